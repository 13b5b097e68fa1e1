"""How a Bedrock request proves who sends it: SigV4 or a Bedrock API key.

SigV4 signs the method, path, signed headers and a hash of the body with a
key derived from the secret access key, the date, the region and the
service (``bedrock``); botocore's signer does the arithmetic. A Bedrock API
key is simply sent as a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from megarouter.errors import ProviderAuthError
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec

SERVICE = "bedrock"
_REGION_IN_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


class BedrockSigner:
    """Adds authentication headers to Bedrock requests.

    The credential's ``api_key`` is the access key id; its extras hold
    ``secret_access_key``, an optional ``session_token`` and the ``region``
    (else ``spec.options["region"]``, else the region in the base URL). With
    ``spec.auth`` BEARER, or ``extra["auth"] == "bearer"``, ``api_key`` is a
    Bedrock API key instead.

    Without a region SigV4 cannot sign, and every call fails with a final
    :class:`~megarouter.errors.ProviderAuthError` saying so.
    """

    def __init__(self, spec: ProviderSpec, credential: Credential | None) -> None:
        self._provider = spec.name
        self._credential = credential
        extra = credential.extra if credential else {}
        self.bearer = spec.auth is AuthScheme.BEARER or extra.get("auth") == "bearer"
        self.unsigned = spec.auth is AuthScheme.NONE
        self.region = (
            extra.get("region")
            or spec.options.get("region")
            or _region_in(spec.base_url)
        )

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """``headers`` plus those that authenticate this exact request.

        Raises:
            ProviderAuthError: the credential lacks what the scheme needs.
        """
        credential = self._credential
        if self.unsigned:
            return dict(headers)
        if not self.region and not self.bearer:
            raise ProviderAuthError(
                f"{self._provider}: SigV4 needs a region (credential extra 'region' "
                "or provider option 'region')",
                provider=self._provider,
            )
        if credential is None or not credential.api_key:
            raise ProviderAuthError(
                f"{self._provider}: no Bedrock credential configured",
                provider=self._provider,
            )
        if self.bearer:
            return {**headers, "authorization": f"Bearer {credential.api_key}"}

        secret = credential.extra.get("secret_access_key", "")
        if not secret:
            raise ProviderAuthError(
                f"{self._provider}: the credential has no secret_access_key",
                provider=self._provider,
            )
        keys = Credentials(
            credential.api_key, secret, credential.extra.get("session_token") or None
        )
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(keys, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())


def _region_in(base_url: str) -> str:
    match = _REGION_IN_HOST.search(base_url)
    return match.group(1) if match else ""
