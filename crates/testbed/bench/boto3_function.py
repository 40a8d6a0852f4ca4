"""Cold start, whole (`make bench`, testbed::bench::cold): (c), a function's first remote
calls from Python with boto3, behind a minimal Lambda runtime loop (what the Python runtime
interface client does: poll, handle, answer). The AWS call is the first argument; its
parameters come from the environment, as for (a) and (b) (testbed::bench::cold::calls):

  sqs                         queue-scaler: SQS GetQueueAttributes on QUEUE_URL (or, with
                              QUEUE_NAME, on the URL GetQueueUrl gives, looked up once)
  cloudwatch-set-alarm-state  alarm-scaler: SetAlarmState OK on ALARM_NAMES' one alarm
  cloudwatch-describe-alarms  alarm-sync: DescribeAlarms of ALARM_NAMES (comma-separated)
  iam                         iam-sync: IAM GetGroup of GROUP_NAME
  sqs-lambda                  concurrency-scaler: the SQS call (QUEUE_NAME), then Lambda
                              GetFunctionConcurrency of FUNCTION_NAME
  dynamodb                    node-autoscaler: UpdateItem taking a lease in STATE_TABLE

Each invocation then makes the function's first Kubernetes request, GET KUBE_FIRST_REQUEST
(a path) on API_SERVER, trusting CERT_AUTHORITY (base64 of the CA's PEM), authenticated as
the second argument says: `eks`, a token presigned as `aws eks get-token` does it
(GetCallerIdentity on the regional STS endpoint, x-k8s-aws-id: CLUSTER_NAME), signed on
the first invocation and kept for 10 minutes as the suite's functions keep theirs; `k3s`
(node-autoscaler), the service-account token of the SSM SecureString K8S_API_TOKEN_PARAM,
read on the first invocation and kept. urllib opens a connection per request, so the warm
invocation pays a TLS handshake too: that makes (c)'s cold extra smaller, never larger,
than a pooling client's.

Never shipped."""
import base64
import json
import os
import ssl
import sys
import time
import urllib.request

import boto3

API = os.environ["AWS_LAMBDA_RUNTIME_API"].removeprefix("http://")
BASE = f"http://{API}/2018-06-01/runtime/invocation"


def sqs():
    client = boto3.client("sqs")
    # QUEUE_NAME (concurrency-scaler): the URL looked up on the first call and kept.
    url = {"value": os.environ.get("QUEUE_URL")}

    def call():
        if url["value"] is None:
            url["value"] = client.get_queue_url(QueueName=os.environ["QUEUE_NAME"])["QueueUrl"]
        attrs = client.get_queue_attributes(
            QueueUrl=url["value"],
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


def eks_token():
    region = os.environ["AWS_REGION"]
    sts = boto3.client("sts", endpoint_url=f"https://sts.{region}.amazonaws.com")
    cluster = os.environ["CLUSTER_NAME"]

    # awscli's customizations/eks/get_token.py: the cluster name rides in a signed header.
    def header(request, **_):
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", header)

    def sign():
        url = sts.generate_presigned_url(
            "get_caller_identity", ExpiresIn=60, HttpMethod="GET"
        )
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    return sign


def k3s_token():
    ssm = boto3.client("ssm")
    name = os.environ["K8S_API_TOKEN_PARAM"]
    return lambda: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def kubernetes(aws_call, fetch):
    ca = base64.b64decode(os.environ["CERT_AUTHORITY"]).decode()
    tls = ssl.create_default_context(cadata=ca)
    url = os.environ["API_SERVER"].rstrip("/") + os.environ["KUBE_FIRST_REQUEST"]
    token = {"value": None, "at": 0.0}

    def bearer():
        if token["value"] is None or time.monotonic() - token["at"] > 600:
            token["value"], token["at"] = fetch(), time.monotonic()
        return token["value"]

    def call():
        answer = aws_call()
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {bearer()}"}
        )
        with urllib.request.urlopen(request, context=tls) as r:
            answer["kubernetesBytes"] = len(r.read())
        return answer

    return call


CALLS = {
    "sqs": sqs,
    "sqs-lambda": sqs_lambda,
    "cloudwatch-set-alarm-state": lambda: cloudwatch(True),
    "cloudwatch-describe-alarms": lambda: cloudwatch(False),
    "iam": iam,
    "dynamodb": dynamodb,
}
TOKENS = {"eks": eks_token, "k3s": k3s_token}
# clients at init, as a Python Lambda builds them
handle = kubernetes(CALLS[sys.argv[1]](), TOKENS[sys.argv[2]]())

while True:
    with urllib.request.urlopen(f"{BASE}/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.load(r)
    body = json.dumps(handle()).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{BASE}/{request_id}/response", data=body, method="POST")
    ).read()
