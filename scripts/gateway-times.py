#!/usr/bin/env python3
"""How long the moto gateway takes to answer, over HTTP: a presigned STS GetCallerIdentity (an
EKS token's verification, each on a new connection as the STS forwarder opens one per
request) and an SQS GetQueueAttributes by boto3; medians of 300 and 200 after 20 unmeasured.
A diagnostic, not a test; to compare two versions of the gateway:

    git show REV:tools/moto_gateway.py > /tmp/old_gateway.py
    scripts/gateway-times.py /tmp/old_gateway.py; scripts/gateway-times.py tools/moto_gateway.py
"""
import http.client
import subprocess
import sys
import time
from urllib.parse import urlsplit

import boto3


def main():
    gateway = sys.argv[1] if len(sys.argv) > 1 else "tools/moto_gateway.py"
    gw = subprocess.Popen([sys.executable, gateway, "--ignore-stdin"], stdout=subprocess.PIPE,
                          text=True)
    try:
        measure(gateway, gw.stdout.readline().split()[1])
    finally:
        gw.kill()


def measure(gateway, url):
    setup = dict(endpoint_url=url, region_name="us-east-1")
    iam = boto3.client("iam", aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x",
                       **setup)
    iam.create_user(UserName="bench")
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    keys = dict(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    sts = boto3.client("sts", endpoint_url="https://sts.us-east-1.amazonaws.com",
                       region_name="us-east-1", **keys)
    token = urlsplit(sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=600,
                                                HttpMethod="GET"))
    host, port = urlsplit(url).hostname, urlsplit(url).port

    def verify():
        conn = http.client.HTTPConnection(host, port)
        began = time.perf_counter()
        conn.request("GET", f"{token.path}?{token.query}",
                     headers={"Host": token.netloc, "Accept": "application/json"})
        answer = conn.getresponse()
        answer.read()
        took = time.perf_counter() - began
        conn.close()
        assert answer.status == 200, answer.status
        return took * 1e3

    for _ in range(20):
        verify()
    verifications = sorted(verify() for _ in range(300))
    sqs = boto3.client("sqs", **setup, **keys)
    queue = sqs.create_queue(QueueName="bench")["QueueUrl"]

    def attributes():
        began = time.perf_counter()
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
        return (time.perf_counter() - began) * 1e3

    for _ in range(20):
        attributes()
    reads = sorted(attributes() for _ in range(200))
    print(f"{gateway}: presigned GetCallerIdentity over HTTP, new connection: median "
          f"{verifications[150]:.2f} ms p90 {verifications[270]:.2f}; SQS GetQueueAttributes "
          f"(boto3): median {reads[100]:.2f} ms")


if __name__ == "__main__":
    main()
