#!/usr/bin/env python3
"""Expands infra/template.yaml offline, as CloudFormation would deploy it.

1. samtranslator (the library `sam deploy` and cfn-lint use; cfn-lint installs it) turns the
   AWS::Serverless resources into plain CloudFormation (functions, event rules, permissions).
2. The intrinsic functions are resolved with the template's parameter defaults, overridden
   by NAME=VALUE arguments, in a given account and region: Ref, Fn::Sub, Fn::GetAtt (.Arn),
   Fn::If with the template's Conditions, Fn::Join, Fn::Select, Fn::Split. Resources whose
   Condition is false are dropped, and AWS::NoValue removes its key or list item.

Prints the resolved template as JSON. Used by the deploy checks (each function's deployed
configuration against its crate) and the IAM-enforced tests (each role's policy, exactly).

usage: sam-expand.py [--account 123456789012] [--region us-east-1] [TEMPLATE] [NAME=VALUE...]
"""
import argparse
import json
import os
import re
import sys

import yaml
from samtranslator.translator.transform import transform

NO_VALUE = object()

# ARN and Ref shapes of the resource types the template declares (an unknown type or
# attribute is an error, so that a new resource is taught here rather than guessed).
ARN = {
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{name}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{name}",
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role/{name}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::Events::Rule": "arn:{p}:events:{r}:{a}:rule/{name}",
}
NAME_PROPERTY = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Events::Rule": "Name",
}


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) as their long forms."""


def _tag(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for short in ["Ref", "Condition"]:
    Loader.add_constructor("!" + short, _tag(short))
for short in ["Sub", "GetAtt", "If", "Join", "Select", "Split", "Equals", "Not", "And", "Or",
              "FindInMap", "Base64", "GetAZs", "ImportValue"]:
    Loader.add_constructor("!" + short, _tag("Fn::" + short))


class NoManagedPolicies:
    """Offline: the template names no AWS managed policy by name."""

    def load(self):
        return {}


class Resolver:
    def __init__(self, template, parameters, account, region):
        self.t = template
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::StackName": "k8s-lambda-autoscalers",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in parameters:
                self.params[name] = parameters.pop(name)
            elif "Default" in spec:
                self.params[name] = spec["Default"]
        if parameters:
            sys.exit(f"sam-expand: unknown parameter(s) {sorted(parameters)}")
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.truth(self.t["Conditions"][name])
        return self.conditions[name]

    def truth(self, node):
        (fn, args), = node.items()
        if fn == "Condition":
            return self.condition(args)
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.truth(args[0])
        if fn == "Fn::And":
            return all(self.truth(x) for x in args)
        if fn == "Fn::Or":
            return any(self.truth(x) for x in args)
        raise SystemExit(f"sam-expand: {fn} is not a condition function")

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        kind, props = self.resource(name)
        if kind in ("AWS::SNS::Topic",):
            return self.arn(name)
        if kind == "AWS::SQS::Queue":
            r, a = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
            return f"https://sqs.{r}.amazonaws.com/{a}/{self.name(name)}"
        return self.name(name)

    def resource(self, logical):
        try:
            res = self.t["Resources"][logical]
        except KeyError:
            raise SystemExit(f"sam-expand: no resource or parameter {logical!r}")
        return res["Type"], res.get("Properties", {})

    def name(self, logical):
        kind, props = self.resource(logical)
        prop = NAME_PROPERTY.get(kind)
        if prop and prop in props:
            return self.value(props[prop])
        # CloudFormation's generated physical name: stack-Logical-SUFFIX.
        return f"k8s-lambda-autoscalers-{logical}-GENERATED"

    def arn(self, logical):
        kind, _ = self.resource(logical)
        if kind not in ARN:
            raise SystemExit(f"sam-expand: no ARN shape for {kind} ({logical})")
        return ARN[kind].format(
            p="aws",
            r=self.pseudo["AWS::Region"],
            a=self.pseudo["AWS::AccountId"],
            name=self.name(logical),
        )

    def sub(self, args):
        text, extra = (args, {}) if isinstance(args, str) else (args[0], args[1])
        extra = {k: self.value(v) for k, v in extra.items()}

        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key:
                logical, attr = key.split(".", 1)
                return str(self.getatt(logical, attr))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def getatt(self, logical, attr):
        if attr == "Arn":
            return self.arn(logical)
        if attr == "QueueUrl":
            return self.ref(logical)
        if attr in ("QueueName", "TopicName"):
            return self.name(logical)
        if attr == "QueueName":
            return self.name(logical)
        raise SystemExit(f"sam-expand: GetAtt {logical}.{attr} is not known here")

    def value(self, node):
        if isinstance(node, list):
            out = [self.value(x) for x in node]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, args), = node.items()
            if fn == "Ref":
                return self.ref(args)
            if fn == "Fn::Sub":
                return self.sub(args)
            if fn == "Fn::GetAtt":
                logical, attr = args if isinstance(args, list) else args.split(".", 1)
                return self.getatt(logical, attr)
            if fn == "Fn::If":
                name, yes, no = args
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Join":
                sep, items = args
                return sep.join(str(x) for x in self.value(items))
            if fn == "Fn::Select":
                index, items = args
                return self.value(items)[int(self.value(index))]
            if fn == "Fn::Split":
                sep, text = args
                return str(self.value(text)).split(sep)
            if fn.startswith("Fn::"):
                raise SystemExit(f"sam-expand: {fn} is not resolved here")
        out = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def resolve(self):
        resources = {}
        for logical, res in self.t["Resources"].items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            resolved = dict(res)
            resolved.pop("Condition", None)
            resolved["Properties"] = self.value(res.get("Properties", {}))
            resources[logical] = resolved
        return {"Parameters": self.params, "Resources": resources}


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--account", default="123456789012")
    cli.add_argument("--region", default="us-east-1")
    cli.add_argument("template", nargs="?", default="infra/template.yaml")
    cli.add_argument("parameters", nargs="*", metavar="NAME=VALUE")
    args = cli.parse_args()
    template_path, parameters = args.template, args.parameters
    if "=" in template_path:  # only parameters given
        parameters, template_path = [template_path, *parameters], "infra/template.yaml"
    overrides = {}
    for p in parameters:
        name, sep, value = p.partition("=")
        if not sep:
            sys.exit(f"sam-expand: parameter {p!r}: expected NAME=VALUE")
        overrides[name] = value
    with open(template_path) as f:
        sam = yaml.load(f, Loader=Loader)
    # samtranslator wants every parameter it may need a value for; it resolves only the few
    # it must (e.g. in event sources) and keeps the rest as intrinsics, resolved below.
    values = {
        name: overrides.get(name, spec.get("Default"))
        for name, spec in sam.get("Parameters", {}).items()
        if name in overrides or "Default" in spec
    }
    values.update({"AWS::Region": args.region, "AWS::AccountId": args.account,
                   "AWS::Partition": "aws"})
    # As `aws cloudformation package` does: each local CodeUri becomes the S3 object it is
    # uploaded to; the local path is kept (as the S3 key) for the checks.
    for res in sam["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://package-bucket/" + props["CodeUri"]
    # samtranslator asks boto for the region (no call is made; offline).
    os.environ["AWS_DEFAULT_REGION"] = args.region
    cfn = transform(sam, values, NoManagedPolicies())
    json.dump(Resolver(cfn, overrides, args.account, args.region).resolve(), sys.stdout,
              indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
