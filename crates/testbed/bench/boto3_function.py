"""Cold start, whole (`make bench`): queue-scaler's first AWS call, SQS GetQueueAttributes on
QUEUE_URL, from Python with boto3, behind a minimal Lambda runtime loop (what the Python
runtime interface client does: poll, handle, answer). Never shipped."""
import json
import os
import urllib.request

import boto3

API = os.environ["AWS_LAMBDA_RUNTIME_API"].removeprefix("http://")
BASE = f"http://{API}/2018-06-01/runtime/invocation"
sqs = boto3.client("sqs")  # at init, as a Python Lambda builds its clients
URL = os.environ["QUEUE_URL"]

while True:
    with urllib.request.urlopen(f"{BASE}/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.load(r)
    attrs = sqs.get_queue_attributes(
        QueueUrl=URL,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "QueueArn",
        ],
    )["Attributes"]
    body = json.dumps({"messages": int(attrs["ApproximateNumberOfMessages"])}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{BASE}/{request_id}/response", data=body, method="POST")
    ).read()
