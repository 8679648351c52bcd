"""Records the golden values that src/runtime/kubernetes/eks.rs is tested against: EKS token
URLs and the signature of an EKS DescribeCluster request.

An EKS token is `k8s-aws-v1.` + base64url (no padding) of an STS GetCallerIdentity URL
presigned with SigV4, with the header `x-k8s-aws-id: <cluster name>` signed in, valid 60 s.
This script presigns that URL with botocore exactly as the AWS CLI's `aws eks get-token` does
(an STS client, the cluster name passed through the request context into a header before
signing), with fixed example credentials and the clock frozen, and prints each case as a Rust
tuple to paste into the `GOLDEN` table of the test. The Rust test compares the URL's base and
its parsed query parameters, so the parameters' order does not matter.

Without a cluster_url, the endpoint and CA come from EKS DescribeCluster
(`GET /clusters/<name>`, SigV4 in headers). The script also prints the `Authorization` header
botocore's EKS client signs that request with, for `GOLDEN_DESCRIBE`.

Not run by the tests (they hold the printed values); run it again after changing a case:

    python3 -m pip install botocore
    python3 tests/python/eks_token_golden.py

Prints the botocore version first: the values below were recorded with botocore 1.43.11.
"""

import datetime
from unittest import mock

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse

# The AWS documentation's example credentials: not a real key.
ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# 2024-01-02T03:04:05Z, the instant the Rust test signs at.
CLOCK = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
# (cluster name, region)
CASES = [("my-cluster", "us-west-2"), ("prod_eks-1", "eu-central-1")]

HEADER = "x-k8s-aws-id"


def presigned_url(cluster, region):
    """The URL `aws eks get-token --cluster-name CLUSTER --region REGION` would encode."""
    session = botocore.session.get_session()
    sts = session.create_client(
        "sts",
        region_name=region,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        endpoint_url=f"https://sts.{region}.amazonaws.com",
    )

    # As the AWS CLI (awscli/customizations/eks/get_token.py): move the cluster name from the
    # call's parameters into the request context, then into a header just before signing.
    def retrieve_id(params, context, **kwargs):
        if HEADER in params:
            context[HEADER] = params.pop(HEADER)

    def inject_header(request, **kwargs):
        if HEADER in request.context:
            request.headers[HEADER] = request.context[HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", inject_header)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=CLOCK):
        return sts.generate_presigned_url(
            "get_caller_identity",
            Params={HEADER: cluster},
            ExpiresIn=60,
            HttpMethod="GET",
        )


def describe_cluster_authorization(cluster, region):
    """The Authorization header of the DescribeCluster request botocore's EKS client sends."""
    session = botocore.session.get_session()
    eks = session.create_client(
        "eks",
        region_name=region,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        endpoint_url=f"https://eks.{region}.amazonaws.com",
    )
    seen = {}

    class NoBody:
        def stream(self, **kwargs):
            yield b"{}"

    # Catch the signed request instead of sending it.
    def capture(request, **kwargs):
        seen["url"] = request.url
        seen["authorization"] = request.headers["Authorization"].decode()
        return AWSResponse(request.url, 200, {}, NoBody())

    eks.meta.events.register("before-send.eks.DescribeCluster", capture)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=CLOCK):
        eks.describe_cluster(name=cluster)
    return seen["url"], seen["authorization"]


def main():
    print(f"// botocore {botocore.__version__}, signed at {CLOCK.isoformat()}")
    print("// GOLDEN:")
    for cluster, region in CASES:
        print(f'("{cluster}", "{region}", "{presigned_url(cluster, region)}"),')
    print("// GOLDEN_DESCRIBE:")
    for cluster, region in CASES:
        url, authorization = describe_cluster_authorization(cluster, region)
        print(f'("{url}", "{region}", "{authorization}"),')


if __name__ == "__main__":
    main()
