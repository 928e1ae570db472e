"""Sample function: answers with the event it received (or a chosen response shape)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any


def _send(event: dict[str, Any]) -> dict[str, Any]:
    """Mail (simple and raw MIME) and one SMS through moto, as the real adapters would."""
    import boto3

    order = json.loads(event["body"])
    sender = os.environ["SENDER_EMAIL"]
    ses = boto3.client("ses")
    ses.send_email(
        Source=sender,
        Destination={"ToAddresses": [order["to"]]},
        Message={"Subject": {"Data": order["subject"]}, "Body": {"Text": {"Data": order["text"]}}},
    )
    raw = f"From: {sender}\r\nTo: {order['to']}\r\nSubject: raw {order['subject']}\r\n\r\n{order['text']}\r\n"
    ses.send_raw_email(Source=sender, Destinations=[order["to"]], RawMessage={"Data": raw})
    boto3.client("sns").publish(PhoneNumber=order["phone"], Message=order["text"])
    return {"sent": 3}


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if event["rawPath"] == "/send":
        return _send(event)
    kind = (event.get("queryStringParameters") or {}).get("kind", "echo")
    if kind == "string":
        return "plain words"
    if kind == "dict":
        return {"answer": 42}
    if kind == "binary":
        return {
            "statusCode": 200,
            "isBase64Encoded": True,
            "body": base64.b64encode(b"\x00\x01bin").decode(),
            "headers": {"content-type": "application/octet-stream"},
        }
    if kind == "cookies":
        return {"statusCode": 201, "cookies": ["a=1; Path=/", "b=2"], "headers": {"x-one": "1"}, "body": ""}
    if kind == "bad":
        return {"statusCode": "teapot"}
    if kind == "crash":
        raise RuntimeError("the sample function failed on purpose")
    document = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "aws_request_id": context.aws_request_id,
        },
        "env": {k: v for k, v in os.environ.items() if k.startswith(("SAMPLE_", "WORK_", "JOINED", "AWS_"))},
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(document)}
