#!/usr/bin/env python3
"""A thin WSGI gateway in front of moto's server app (the one `moto_server` runs).

moto's backends hold all state; this file only translates two kinds of request that moto
cannot route, and passes everything else through untouched:

1. Smithy RPC v2 CBOR (`POST /service/<Service>/operation/<Op>`), which aws-sdk-cloudwatch
   1.100+ speaks: re-sent to moto as CloudWatch's JSON protocol, answer converted back.
2. Presigned STS GetCallerIdentity GETs (EKS tokens): moto sends requests without an
   Authorization header to S3 and verifies no signature. The gateway verifies the SigV4 query
   signature with the secret moto holds for the key, then forwards with an Authorization header.

DynamoDB requests are served one at a time: moto evaluates a ConditionExpression and writes
the item in separate steps, so two concurrent conditional writes could both succeed; DynamoDB
makes each conditional write atomic, and leases built on it rely on that.

4. The IAM Identity Center (SSO) portal's GetRoleCredentials (`GET /federation/credentials`),
   which moto does not serve: answered with credentials moto's own STS issues for that role,
   so the SDKs' SSO credential providers can be tested (eks-token's profiles).

It also injects faults, as a fault proxy in the request path would (3.): rules set by the
test say which operations fail, how often and how (an error in the service's own protocol, a
dropped connection, a delay); everything they do not pick reaches moto unchanged. And a
barrier (5.): the first N requests of a kind are held until all N have arrived, which proves
that N callers were there at once (a concurrency test's overlap).

Usage: moto_gateway.py [--port N] [--ignore-stdin] [--verbose]
Prints `ready http://127.0.0.1:PORT` once bound. Exits on stdin EOF (its parent died) or SIGTERM.
"""

import argparse, base64, datetime, gzip, hashlib, hmac, io, json, logging, os, random, signal, socket, sys, threading, time, uuid
from urllib.parse import parse_qs, quote, unquote
from xml.etree import ElementTree

import botocore.session
import cbor2
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


class RoutesRemembered(DomainDispatcherApplication):
    """moto's server app, its host -> service lookup remembered per host. moto answers it
    for every request by listing its package directory (a stat per service, ~180) and then
    trying every service's URL patterns, under one lock: on every AWS call of every test and
    every token the cluster verifies (remembered: a presigned GetCallerIdentity answered in
    1.4-1.5 ms instead of 2.2-2.3, an SQS call in 1.9-2.2 instead of 2.8;
    scripts/gateway-times.py). Its answer for a host depends only on the installed moto, so
    it is the same answer, looked up once."""

    def __init__(self, create_app):
        super().__init__(create_app)
        self.routes = {}

    def get_backend_for_host(self, host):
        if host not in self.routes:  # called under moto's own lock
            self.routes[host] = super().get_backend_for_host(host)
        return self.routes[host]


MOTO_APP = RoutesRemembered(create_backend_app)


def MOTO(environ, start_response):  # noqa: N802 (the app every section calls)
    return moto_with_iam(environ, start_response)  # section 6

# ---------------------------------------------------------------- 1. RPC v2 CBOR -> JSON

# Smithy service shape name (the path segment) -> botocore service name. The shape name is
# also the JSON protocol's X-Amz-Target prefix.
CBOR_SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}
_models, _models_lock = {}, threading.Lock()


def service_model(name):
    with _models_lock:
        if name not in _models:
            _models[name] = botocore.session.get_session().get_service_model(name)
        return _models[name]


def cbor_to_json(value):
    """CBOR is self-describing: tag-1 timestamps (decoded by cbor2 as datetimes) become epoch
    seconds and byte strings base64, as the JSON protocol wants them."""
    if isinstance(value, dict):
        return {k: cbor_to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def epoch_seconds(value):
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    try:
        return float(value)
    except ValueError:  # ISO 8601; fromisoformat takes a trailing Z from Python 3.11 on
        parsed = datetime.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.timestamp()


def json_to_cbor(shape, value):
    """JSON does not say which strings are timestamps or blobs, nor which numbers are doubles
    (the Rust decoder rejects an integer where it expects a double): the model does."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {k: json_to_cbor(shape.members[k], v) for k, v in value.items()
                if k in shape.members and v is not None}
    if kind == "list":
        return [json_to_cbor(shape.member, v) for v in value]
    if kind == "map":
        return {k: json_to_cbor(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        seconds = epoch_seconds(value)
        return cbor2.CBORTag(1, int(seconds) if float(seconds).is_integer() else float(seconds))
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    return value


def cbor_response(status, body, headers=()):
    response = Response(cbor2.dumps(body), status=status, content_type="application/cbor")
    response.headers["smithy-protocol"] = "rpc-v2-cbor"
    for name, value in headers:
        response.headers[name] = value
    return response


def cbor_error(status, code, message, headers=()):
    # What aws-sdk-cloudwatch's cbor_errors.rs reads: `__type` (a `ns#` prefix is trimmed)
    # and `message`; an `x-amzn-query-error: Code;Type` header, when present, wins.
    return cbor_response(status, {"__type": code, "message": message}, headers)


def rpcv2_cbor(request):
    parts = request.path.strip("/").split("/")  # service, <Service>, operation, <Op>
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation":
        return cbor_error(404, "UnknownOperationException", f"no route for {request.path}")
    target, op = parts[1], parts[3]
    if target not in CBOR_SERVICES:
        return cbor_error(404, "UnknownOperationException", f"service {target} is not served")
    model = service_model(CBOR_SERVICES[target])
    if op not in model.operation_names:  # moto would crash with a 500 HTML page
        return cbor_error(404, "UnknownOperationException", f"unknown operation {op}")
    raw = request.get_data()
    if request.headers.get("Content-Encoding", "").lower() == "gzip":  # PutMetricData
        raw = gzip.decompress(raw)
    params = cbor_to_json(cbor2.loads(raw)) if raw else {}
    refused = signature_refused(request)  # section 6: the rewritten request is re-signed
    if refused is not None:
        return cbor_error(403, *refused)
    environ = Request.from_values(
        path="/", method="POST", data=json.dumps(params).encode(),
        headers=[(k, v) for k, v in request.headers.items()
                 if k.lower() not in ("content-type", "content-length", "content-encoding",
                                      "accept", "smithy-protocol", "host")]
        + [("Host", request.host), ("X-Amz-Target", f"{target}.{op}"),
           ("Content-Type", "application/x-amz-json-1.0")],
        environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"},
    ).environ
    environ[VERIFIED] = True
    try:
        answer = Response.from_app(MOTO, environ, buffered=True)
    except Exception as error:  # a moto bug: name it in the SDK's error, not an HTML 500
        logging.getLogger("moto_gateway").exception("moto failed on %s", op)
        return cbor_error(500, "InternalFailure", f"moto raised {error!r} on {op}")
    passed = [(k, v) for k, v in answer.headers.items()
              if k.lower() in ("x-amzn-requestid", "x-amzn-query-error")]
    text = answer.get_data(as_text=True)
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError:
        return cbor_error(500, "InternalFailure", f"moto answered {answer.status}: {text[:500]}")
    if answer.status_code >= 300:
        message = document.get("message") or document.get("Message") or ""
        return cbor_error(answer.status_code, document.get("__type", "InternalFailure"),
                          message, passed)
    output = model.operation_model(op).output_shape
    return cbor_response(answer.status_code, json_to_cbor(output, document) if output else {},
                         passed)


# ---------------------------------------------------------------- 2. presigned STS GET

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SKEW = datetime.timedelta(minutes=15)  # STS ignores X-Amz-Expires; a presigned GET lives 15 min


def sts_error(request, status, code, message):
    request_id = str(uuid.uuid4())
    if "application/json" in request.headers.get("Accept", ""):
        body = json.dumps({"Error": {"Code": code, "Message": message, "Type": "Sender"},
                           "RequestId": request_id})
        return Response(body, status=status, content_type="application/json",
                        headers={"x-amzn-RequestId": request_id})
    body = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>")
    return Response(body, status=status, content_type="text/xml",
                    headers={"x-amzn-RequestId": request_id})


def find_secret(access_key_id):
    """(secret, session token or None, expiry or None) as moto holds them, or None."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    for account in list(sts_backends):
        for backend in list(sts_backends[account].values()):
            for role in backend.assumed_roles:
                if role.access_key_id == access_key_id:
                    return role.secret_access_key, role.session_token, role.expiration
    for account in list(iam_backends):
        for backend in list(iam_backends[account].values()):
            key = backend.access_keys.get(access_key_id)
            if key is not None and key.status == "Active":
                return key.secret_access_key, None, None
    return None


def canonical_query(raw_query):
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
            if name != "X-Amz-Signature":
                pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def expected_signatures(request, secret, query):
    credential = query["X-Amz-Credential"]
    _, date, region, service, _ = credential.split("/")
    signed = query["X-Amz-SignedHeaders"].split(";")
    headers = "".join(f"{h}:{' '.join(request.headers.get(h, '').split())}\n" for h in signed)
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    raw_query = request.environ.get("QUERY_STRING", "")
    # The Rust aws-sigv4 presigns with UNSIGNED-PAYLOAD; aws-sdk-go v1 with the empty hash.
    for payload in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"").hexdigest()):
        canonical = "\n".join([request.method, quote(request.path, safe="/-_.~"),
                               canonical_query(raw_query), headers, ";".join(signed), payload])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"],
                             credential.split("/", 1)[1],
                             hashlib.sha256(canonical.encode()).hexdigest()])
        yield hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def is_presigned_sts(request):
    """Every GET asking for GetCallerIdentity without an Authorization header, whatever the
    case of its query keys (aws-iam-authenticator compares them ignoring case): none may reach
    moto, which would answer it unverified. `presigned_sts` then wants STS's exact keys, as
    STS does, so one without them, or without a signature, is refused here."""
    if request.method != "GET" or "Authorization" in request.headers:
        return False
    return any(k.lower() == "action" and v == "GetCallerIdentity"
               for k, v in request.args.items(multi=True))


def presigned_sts(request):
    query = request.args
    if "X-Amz-Signature" not in query or query.get("Action") != "GetCallerIdentity":
        return sts_error(request, 403, "MissingAuthenticationToken",
                         "Request is missing Authentication Token")
    try:
        signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        signed_at = signed_at.replace(tzinfo=datetime.timezone.utc)
        access_key_id = query["X-Amz-Credential"].split("/")[0]
        query["X-Amz-SignedHeaders"]
    except (KeyError, ValueError):
        return sts_error(request, 400, "IncompleteSignature", "The presigned query is malformed.")
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = "%Y%m%dT%H%M%SZ"
    if now - signed_at > SKEW:
        return sts_error(request, 403, "SignatureDoesNotMatch",
                         f"Signature expired: {signed_at.strftime(stamp)} is now earlier than "
                         f"{(now - SKEW).strftime(stamp)} ({now.strftime(stamp)} - 15 min.)")
    if signed_at - now > SKEW:
        return sts_error(request, 403, "SignatureDoesNotMatch",
                         f"Signature not yet current: {signed_at.strftime(stamp)} is still later "
                         f"than {(now + SKEW).strftime(stamp)} ({now.strftime(stamp)} + 15 min.)")
    found = find_secret(access_key_id)
    if found is None:
        return sts_error(request, 403, "InvalidClientTokenId",
                         "The security token included in the request is invalid.")
    secret, session_token, expiry = found
    if session_token is not None and query.get("X-Amz-Security-Token") != session_token:
        return sts_error(request, 403, "InvalidClientTokenId",
                         "The security token included in the request is invalid.")
    if expiry is not None and expiry.replace(tzinfo=datetime.timezone.utc) < now:
        return sts_error(request, 403, "ExpiredToken",
                         "The security token included in the request is expired")
    given = query.get("X-Amz-Signature", "")
    if not any(hmac.compare_digest(given, s) for s in expected_signatures(request, secret, query)):
        return sts_error(request, 403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not match the signature you "
                         "provided. Check your AWS Secret Access Key and signing method. Consult "
                         "the service documentation for details.")
    # With an Authorization header moto routes to STS and answers for that access key.
    environ = dict(request.environ)
    environ["HTTP_AUTHORIZATION"] = (
        f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
        f"SignedHeaders={query['X-Amz-SignedHeaders']}, Signature={given}")
    environ[VERIFIED] = True  # section 6 re-signs it when moto enforces IAM
    answer = Response.from_app(MOTO, environ, buffered=True)
    if answer.status_code != 200 or "application/json" not in request.headers.get("Accept", ""):
        return answer
    # moto answers XML whatever the Accept header; real STS answers JSON when asked.
    root = ElementTree.fromstring(answer.get_data())
    ns = {"s": STS_NS}
    result = {name: root.findtext(f"s:GetCallerIdentityResult/s:{name}", namespaces=ns)
              for name in ("Arn", "UserId", "Account")}
    request_id = root.findtext("s:ResponseMetadata/s:RequestId", namespaces=ns)
    body = {"GetCallerIdentityResponse": {"GetCallerIdentityResult": result,
                                          "ResponseMetadata": {"RequestId": request_id}}}
    return Response(json.dumps(body), status=200, content_type="application/json",
                    headers={"x-amzn-RequestId": request_id})


# ---------------------------------------------------------------- 3. injected faults

# PUT /_testbed/faults {"seed": 7, "rules": [RULE, ...]} replaces the rules (an empty list:
# none) and empties the log; {"paused": true} pauses them (requests pass untouched and
# unlogged, the windows wait) and {"paused": false} resumes them where they were; GET /_testbed/faults answers {"fired": [n per rule], "requests": n,
# "log": [{"operation": op, "fault": kind or null, "status": n}, ...]}: every request looked
# at since, in arrival order, with the fault it got (`InternalError`, `drop`, `delay`) and the
# status it was answered with (0: the connection was dropped). A RULE:
#   {"operation": "RunInstances" | "*",          # the AWS operation (every protocol)
#    "contains": ["InstanceMarketOptions.MarketType=spot"],  # all in path, query or body
#    "rate": 0.2,                                 # share of matching requests (default 1)
#    "times": 3,                                  # fire at most this often (default: always)
#    "fault": {"status": 500, "code": "InternalError", "message": "..."}
#           | {"drop": true} | {"delay_ms": 2000}
#    "faults": [FAULT, ...]}                      # instead of "fault": each in turn
# The rate is exact, not a draw per request: the matching requests are taken in windows of
# the smallest size w for which w × rate is whole (5 for 0.2, 15 for 1/15), and exactly
# w × rate of each window fire, at places the seeded generator picks (so a run repeats, and
# no operation that comes every n-th request is always or never hit).
# The first rule that matches and fires decides.
FAULTS = {"rules": [], "fired": [], "seen": [], "picked": [], "requests": 0, "log": [],
          "rng": random.Random(0), "paused": False}
FAULTS_LOCK = threading.Lock()


def operation_of(request, body):
    target = request.headers.get("X-Amz-Target")
    if target:  # JSON protocols (SQS, DynamoDB, SSM, ...)
        return target.rsplit(".", 1)[-1]
    if request.path.startswith("/service/"):  # RPC v2 CBOR
        return request.path.rstrip("/").rsplit("/", 1)[-1]
    action = request.args.get("Action") or parse_qs(body).get("Action", [None])[0]
    return action or f"{request.method} {request.path}"  # query protocols; REST otherwise


def request_view(environ, request):
    """(operation, text the rules' `contains` look in). Buffers the body: moto reads it again
    from the stream."""
    raw = request.get_data()
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    body = raw.decode("utf-8", "replace")
    return operation_of(request, body), f"{request.full_path}\n{body}"


def selects(rule, operation, seen):
    """Whether a fault rule (or the barrier) is about this request."""
    return rule.get("operation", "*") in ("*", operation) \
        and all(c in seen for c in rule.get("contains", []))


def fault_error(request, status, code, message):
    """The error as the calling SDK parses it for the request's protocol."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if request.headers.get("smithy-protocol") == "rpc-v2-cbor":
        return cbor_error(status, code, message, list(headers.items()))
    if request.headers.get("X-Amz-Target"):
        headers["x-amzn-query-error"] = f"{code};Sender"
        return Response(json.dumps({"__type": code, "message": message}), status=status,
                        content_type="application/x-amz-json-1.0", headers=headers)
    if "/ec2/aws4_request" in request.headers.get("Authorization", ""):
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return Response(body, status=status, content_type="text/xml", headers=headers)
    if request.method == "POST" and "Action=" in request.get_data(as_text=True):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
        return Response(body, status=status, content_type="text/xml", headers=headers)
    headers["x-amzn-ErrorType"] = code  # REST JSON (Lambda)
    return Response(json.dumps({"message": message, "Type": "User"}), status=status,
                    content_type="application/json", headers=headers)


def faults_admin(request):
    with FAULTS_LOCK:
        if request.method == "PUT":
            spec = json.loads(request.get_data(as_text=True) or "{}")
            if "paused" in spec and "rules" not in spec:
                FAULTS["paused"] = bool(spec["paused"])
                return Response(json.dumps({"paused": FAULTS["paused"]}),
                                content_type="application/json")
            FAULTS["paused"] = False
            rules = spec.get("rules", [])
            FAULTS.update(rules=rules, fired=[0] * len(rules), seen=[0] * len(rules),
                          picked=[set() for _ in rules], requests=0, log=[],
                          rng=random.Random(spec.get("seed", 0)))
        answer = {"fired": FAULTS["fired"], "requests": FAULTS["requests"],
                  "log": FAULTS["log"]}
        return Response(json.dumps(answer), content_type="application/json")


def window_of(rate):
    """The smallest window in which `rate` of the requests is a whole number of them."""
    for size in range(1, 1001):
        if abs(size * rate - round(size * rate)) < 1e-9:
            return size
    return 1000


def selected(i, rule):
    """Whether rule `i`'s next matching request is one of those its rate picks (under the
    lock): each window of `window_of(rate)` requests has exactly its share picked."""
    rate = min(max(float(rule.get("rate", 1.0)), 0.0), 1.0)
    size = window_of(rate)
    n = FAULTS["seen"][i]
    FAULTS["seen"][i] += 1
    if n % size == 0:  # a new window: pick its places
        FAULTS["picked"][i] = set(FAULTS["rng"].sample(range(size), round(size * rate)))
    return n % size in FAULTS["picked"][i]


def fault_kind(fault):
    if fault.get("drop"):
        return "drop"
    if fault.get("delay_ms"):
        return "delay"
    return fault.get("code", "InternalError")


def pick_fault(environ, request):
    """(fault, operation, log entry) for this request; the fault None when none fires. None
    when no rules are set."""
    if not FAULTS["rules"] or FAULTS["paused"]:
        return None
    operation, seen = request_view(environ, request)
    with FAULTS_LOCK:
        FAULTS["requests"] += 1
        entry = {"operation": operation, "fault": None, "status": None}
        FAULTS["log"].append(entry)
        for i, rule in enumerate(FAULTS["rules"]):
            if not selects(rule, operation, seen):
                continue
            if rule.get("times") is not None and FAULTS["fired"][i] >= rule["times"]:
                continue
            if not selected(i, rule):
                continue
            faults = rule.get("faults") or [rule["fault"]]
            fault = faults[FAULTS["fired"][i] % len(faults)]
            FAULTS["fired"][i] += 1
            entry["fault"] = fault_kind(fault)
            return fault, operation, entry
        return None, operation, entry


def logged(start_response, entry):
    """start_response recording the answer's status in the fault log's `entry`."""
    def start(status, headers, exc_info=None):
        with FAULTS_LOCK:
            entry["status"] = int(status.split()[0])
        return start_response(status, headers, exc_info)
    return start


def injected(environ, request, fault, operation):
    """The response for a fired fault, or None to go on to moto (after a delay)."""
    if fault.get("delay_ms"):
        time.sleep(fault["delay_ms"] / 1000)
        return None
    if fault.get("drop"):
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=500)  # never reaches the client
    return fault_error(request, fault.get("status", 500), fault.get("code", "InternalError"),
                       fault.get("message", f"injected fault on {operation}"))


# ---------------------------------------------------------------- 5. a barrier

# PUT /_testbed/barrier {"operation": "UpdateItem", "contains": ["lease#periodic"],
# "parties": 10, "timeout_ms": 60000} arms a barrier: the first `parties` requests it selects
# (as a fault rule selects) are held until all of them have arrived, then go on together, so
# a test can prove that that many callers really were at that point at once. One that waits
# longer than `timeout_ms` goes on alone, and the barrier reports itself not filled. Later
# requests pass, and so does an SDK's retry of a held one (same `amz-sdk-invocation-id`): a
# retry is not another caller. {} disarms it (releasing any held). GET /_testbed/barrier answers
# {"parties": n, "arrived": n, "filled": bool, "timedOut": bool, "statuses": [status of
# each held request's answer, in the order answered]}.
BARRIER = {"spec": None, "arrived": 0, "filled": False, "timed_out": False, "statuses": [],
           "callers": set()}
BARRIER_CHANGED = threading.Condition()


def barrier_admin(request):
    with BARRIER_CHANGED:
        if request.method == "PUT":
            spec = json.loads(request.get_data(as_text=True) or "{}")
            BARRIER.update(spec=spec or None, arrived=0, filled=False, timed_out=False,
                           statuses=[], callers=set())
            BARRIER_CHANGED.notify_all()  # a previous barrier's held requests go on
        answer = {"parties": (BARRIER["spec"] or {}).get("parties", 0),
                  "arrived": BARRIER["arrived"], "filled": BARRIER["filled"],
                  "timedOut": BARRIER["timed_out"], "statuses": BARRIER["statuses"]}
        return Response(json.dumps(answer), content_type="application/json")


def await_barrier(environ, request):
    """Holds this request at the barrier if it is one of the first it selects; True if so."""
    spec = BARRIER["spec"]
    if spec is None or not selects(spec, *request_view(environ, request)):
        return False
    with BARRIER_CHANGED:
        caller = request.headers.get("amz-sdk-invocation-id") or object()
        if BARRIER["spec"] is not spec or BARRIER["arrived"] >= spec["parties"] \
                or caller in BARRIER["callers"]:
            return False
        BARRIER["callers"].add(caller)
        BARRIER["arrived"] += 1
        if BARRIER["arrived"] == spec["parties"]:
            BARRIER["filled"] = True
            BARRIER_CHANGED.notify_all()
            return True
        deadline = time.monotonic() + spec.get("timeout_ms", 60000) / 1000
        while not BARRIER["filled"] and BARRIER["spec"] is spec:
            left = deadline - time.monotonic()
            if left <= 0:
                BARRIER["timed_out"] = True
                break
            BARRIER_CHANGED.wait(left)
        return BARRIER["spec"] is spec


def counted(start_response):
    """start_response recording the answer's status among the barrier's."""
    def start(status, headers, exc_info=None):
        with BARRIER_CHANGED:
            BARRIER["statuses"].append(int(status.split()[0]))
        return start_response(status, headers, exc_info)
    return start


# ---------------------------------------------------------------- 4. IAM Identity Center portal

def sso_error(status, kind, message):
    return Response(json.dumps({"message": message}), status=status,
                    content_type="application/json", headers={"x-amzn-ErrorType": kind})


def sso_role_credentials(request):
    """GetRoleCredentials: a bearer token (the SSO access token the CLI's login cached) and
    account_id/role_name. The credentials are an AssumeRole of that role through moto's own
    app (STS holds them), session name `sso-session`: a token signed with them is verified
    like any other. The bearer token itself cannot be checked: no SSO service issues it here."""
    if not request.headers.get("x-amz-sso_bearer_token"):
        return sso_error(401, "UnauthorizedException", "Session token not found or invalid")
    account, role = request.args.get("account_id", ""), request.args.get("role_name", "")
    if not account.isdigit() or not role:
        return sso_error(400, "InvalidRequestException", "account_id and role_name are required")
    from werkzeug.test import EnvironBuilder
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in [
        ("Action", "AssumeRole"), ("Version", "2011-06-15"),
        ("RoleArn", f"arn:aws:iam::{account}:role/{role}"), ("RoleSessionName", "sso-session")])
    environ = EnvironBuilder(method="POST", path="/", data=body, headers={
        "Host": "sts.amazonaws.com",
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/"
                         "sts/aws4_request, SignedHeaders=host, Signature=0"}).get_environ()
    answer = Response.from_app(MOTO, environ, buffered=True)
    if answer.status_code != 200:
        return answer
    ns = {"s": STS_NS}
    creds = ElementTree.fromstring(answer.get_data()).find(
        "s:AssumeRoleResult/s:Credentials", namespaces=ns)
    expiry = datetime.datetime.fromisoformat(creds.findtext("s:Expiration", namespaces=ns)
                                             .replace("Z", "+00:00"))
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=datetime.timezone.utc)
    return Response(json.dumps({"roleCredentials": {
        "accessKeyId": creds.findtext("s:AccessKeyId", namespaces=ns),
        "secretAccessKey": creds.findtext("s:SecretAccessKey", namespaces=ns),
        "sessionToken": creds.findtext("s:SessionToken", namespaces=ns),
        "expiration": int(expiry.timestamp() * 1000)}}), content_type="application/json")


# ---------------------------------------------------------------- 6. moto's IAM enforcement

# With enforcement on (moto's INITIAL_NO_AUTH_ACTION_COUNT, or POST /moto-api/reset-auth with
# the count), moto checks every request's SigV4 signature, then the caller's policies for the
# action. Three kinds of request would fail the signature check for moto's reasons, not the
# caller's: the ones sections 1 and 2 rewrote (CBOR, presigned STS), and those without a body
# (Lambda's GETs), for which moto hashes the request's headers as the payload. The gateway
# verifies the caller's own signature (section 2 already has), then signs the request moto
# gets again with the caller's key, so moto authorizes the same principal. And moto answers
# an authorization error as IAM's XML whatever the protocol, which the JSON and EC2 SDKs
# cannot read: the same status, code and message go back in the request's protocol, as the
# service would answer (fault_error). Everything else reaches moto, and comes back, unchanged.

VERIFIED = "testbed.signature_verified"


def enforcing():
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def authorization_part(header, name):
    return header.partition(f"{name}=")[2].partition(",")[0].strip()


def signer_for(request, found, scope):
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials
    secret, token, _ = found
    key, _, region, service, _ = scope.split("/")
    return SigV4Auth(Credentials(key, secret, token), service, region)


def moto_url(request):
    """The path and query moto signs over (IAMRequestBase: its urlparse of request.url)."""
    from urllib.parse import urlparse
    parsed = urlparse(request.url)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def signature_refused(request):
    """None when the caller's SigV4 signature is right (or moto will refuse the key itself,
    or does not enforce), else (code, message)."""
    from botocore.awsrequest import AWSRequest
    header = request.headers.get("Authorization", "")
    scope = authorization_part(header, "Credential")
    found = find_secret(scope.split("/")[0]) if enforcing() and scope.count("/") == 4 else None
    if found is None:
        return None
    signed = authorization_part(header, "SignedHeaders").split(";")
    # The caller signed the path and query as sent (`%3A` in an ARN), which request.url
    # (what moto signs over) decodes: the raw request target is what was signed.
    sent = request.environ.get("RAW_URI") or moto_url(request)
    aws = AWSRequest(method=request.method, url=sent, data=request.get_data(),
                     headers={h: request.headers.get(h, "") for h in signed})
    aws.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    signer = signer_for(request, found, scope)
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    if hmac.compare_digest(expected, authorization_part(header, "Signature")):
        return None
    return ("SignatureDoesNotMatch", "The request signature we calculated does not match the "
            "signature you provided. Check your AWS Secret Access Key and signing method.")


def resign(environ, request):
    """Signs the request moto gets with the caller's key, the payload hash in a signed
    x-amz-content-sha256 header (which moto's check reads rather than hashing itself)."""
    from botocore.awsrequest import AWSRequest
    scope = authorization_part(request.headers.get("Authorization", ""), "Credential")
    found = find_secret(scope.split("/")[0]) if scope.count("/") == 4 else None
    if found is None:
        return  # moto refuses the unknown key itself
    body = request.get_data()
    headers = {"host": request.host, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    aws = AWSRequest(method=request.method, url=moto_url(request), data=body, headers=headers)
    signer_for(request, found, scope).add_auth(aws)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "x-amz-content-sha256"):
        if name in aws.headers:
            environ["HTTP_" + name.upper().replace("-", "_")] = aws.headers[name]


def moto_with_iam(environ, start_response):
    if not enforcing():
        return MOTO_APP(environ, start_response)
    request = Request(environ)
    body = request.get_data()
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    if "Authorization" in request.headers and (environ.get(VERIFIED) or not body):
        refused = None if environ.get(VERIFIED) else signature_refused(request)
        if refused is not None:
            return fault_error(request, 403, *refused)(environ, start_response)
        resign(environ, request)
    answer = Response.from_app(MOTO_APP, environ, buffered=True)
    text = answer.get_data(as_text=True)
    if answer.status_code in (401, 403) and "<ErrorResponse><Errors><Error>" in text:
        error = ElementTree.fromstring(text.encode()).find("Errors/Error")
        answer = fault_error(request, answer.status_code, error.findtext("Code"),
                             error.findtext("Message"))
    return answer(environ, start_response)


# ---------------------------------------------------------------- dispatch and serving

def gateway(environ, start_response):
    request = Request(environ)
    if request.path == "/_testbed/faults":
        return faults_admin(request)(environ, start_response)
    if request.path == "/_testbed/barrier":
        return barrier_admin(request)(environ, start_response)
    if await_barrier(environ, request):
        start_response = counted(start_response)
    picked = pick_fault(environ, request)
    if picked is not None:
        fault, operation, entry = picked
        if fault is not None and fault.get("drop"):
            entry["status"] = 0  # no answer reaches the caller
        else:
            start_response = logged(start_response, entry)
        if fault is not None:
            response = injected(environ, request, fault, operation)
            if response is not None:
                return response(environ, start_response)
    if request.method == "POST" and request.path.startswith("/service/") \
            and request.headers.get("smithy-protocol") == "rpc-v2-cbor":
        return rpcv2_cbor(request)(environ, start_response)
    if is_presigned_sts(request):
        return presigned_sts(request)(environ, start_response)
    if request.method == "GET" and request.path == "/federation/credentials":
        return sso_role_credentials(request)(environ, start_response)
    if request.headers.get("X-Amz-Target", "").startswith("DynamoDB_"):
        with DYNAMODB_LOCK:  # moto's app builds the whole response inside the call
            return list(MOTO(environ, start_response))
    return MOTO(environ, start_response)


DYNAMODB_LOCK = threading.Lock()


class SsoHeaderHandler(WSGIRequestHandler):
    """werkzeug's server drops headers with `_` in their name (they would collide with `-` in
    the WSGI environ); the SSO portal's `x-amz-sso_bearer_token` is one, so it is kept.
    Nagle is off, as on AWS's endpoints: werkzeug writes a response's head and body apart,
    and the body must not wait for the caller's delayed ACK."""

    disable_nagle_algorithm = True

    def make_environ(self):
        environ = super().make_environ()
        token = self.headers.get("x-amz-sso_bearer_token")
        if token is not None:
            environ["HTTP_X_AMZ_SSO_BEARER_TOKEN"] = token
        return environ


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="keep running at stdin EOF (for use outside a test process)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    server = make_server("127.0.0.1", args.port, gateway, threaded=True,
                         request_handler=SsoHeaderHandler)
    os.environ["MOTO_PORT"] = str(server.server_port)  # moto's self-calls (e.g. SQS URLs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.ignore_stdin:
        threading.Event().wait()
    while sys.stdin.buffer.read(65536):  # EOF: whoever held our stdin is gone
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
