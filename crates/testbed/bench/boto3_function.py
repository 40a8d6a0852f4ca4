"""Cold start, whole (`make bench`, testbed::bench::cold): (c), a function's first AWS call
from Python with boto3, behind a minimal Lambda runtime loop (what the Python runtime
interface client does: poll, handle, answer). The call is the first argument; its
parameters come from the environment, as for (a) and (b) (testbed::bench::cold::calls):

  sqs                         queue-scaler: SQS GetQueueAttributes on QUEUE_URL
  cloudwatch-set-alarm-state  alarm-scaler: SetAlarmState OK on ALARM_NAMES' one alarm
  cloudwatch-describe-alarms  alarm-sync: DescribeAlarms of ALARM_NAMES (comma-separated)
  iam                         iam-sync: IAM GetGroup of GROUP_NAME
  sqs-lambda                  concurrency-scaler: the SQS call, then Lambda
                              GetFunctionConcurrency of FUNCTION_NAME
  dynamodb                    node-autoscaler: UpdateItem taking a lease in STATE_TABLE

Never shipped."""
import json
import os
import sys
import time
import urllib.request

import boto3

API = os.environ["AWS_LAMBDA_RUNTIME_API"].removeprefix("http://")
BASE = f"http://{API}/2018-06-01/runtime/invocation"


def sqs():
    client = boto3.client("sqs")
    url = os.environ["QUEUE_URL"]

    def call():
        attrs = client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
                "QueueArn",
            ],
        )["Attributes"]
        return {"messages": int(attrs["ApproximateNumberOfMessages"])}

    return call


def sqs_lambda():
    queue, client = sqs(), boto3.client("lambda")
    function = os.environ["FUNCTION_NAME"]

    def call():
        answer = queue()
        out = client.get_function_concurrency(FunctionName=function)
        answer["reserved"] = out.get("ReservedConcurrentExecutions")
        return answer

    return call


def cloudwatch(set_alarm_state):
    client = boto3.client("cloudwatch")
    alarms = os.environ["ALARM_NAMES"].split(",")

    def call():
        if set_alarm_state:
            client.set_alarm_state(
                AlarmName=alarms[0], StateValue="OK", StateReason="re-armed"
            )
            return {"rearmed": True}
        out = client.describe_alarms(AlarmNames=alarms, AlarmTypes=["MetricAlarm"])
        return {"alarms": len(out["MetricAlarms"])}

    return call


def iam():
    client = boto3.client("iam")
    group = os.environ["GROUP_NAME"]
    return lambda: {"members": len(client.get_group(GroupName=group)["Users"])}


def dynamodb():
    client = boto3.client("dynamodb")
    table = os.environ["STATE_TABLE"]

    def call():
        now = str(int(time.time()))
        out = client.update_item(
            TableName=table,
            Key={"pk": {"S": "lease#bench"}},
            UpdateExpression="SET #owner = :owner, expires_at = :expires, "
            "fence = if_not_exists(fence, :zero) + :one",
            ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={
                ":owner": {"S": "bench"},
                ":expires": {"N": now},
                ":now": {"N": now},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        return {"fence": out["Attributes"]["fence"]["N"]}

    return call


CALLS = {
    "sqs": sqs,
    "sqs-lambda": sqs_lambda,
    "cloudwatch-set-alarm-state": lambda: cloudwatch(True),
    "cloudwatch-describe-alarms": lambda: cloudwatch(False),
    "iam": iam,
    "dynamodb": dynamodb,
}
handle = CALLS[sys.argv[1]]()  # clients at init, as a Python Lambda builds them

while True:
    with urllib.request.urlopen(f"{BASE}/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.load(r)
    body = json.dumps(handle()).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{BASE}/{request_id}/response", data=body, method="POST")
    ).read()
