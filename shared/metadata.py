"""Metadata documents: protected resources (RFC 9728 §2) and authorization servers (RFC 8414 §2).

URLs stay the exact strings that were published: RFC 8414 §3.3 and RFC 9207 compare issuers by
simple string comparison, so nothing here parses or normalises them (a URL type that adds a
trailing slash would break the comparison).
"""

from dataclasses import asdict, dataclass
from typing import Any, Self

from mcp_authz.shared.json_fields import (
    as_object,
    optional_bool,
    optional_str,
    optional_str_list,
    required_str,
    without_none,
)


@dataclass(frozen=True)
class ProtectedResourceMetadata:
    """What an MCP server says about itself (RFC 9728 §2)."""

    #: REQUIRED. The resource identifier, exactly as clients use it (RFC 9728 §3.3).
    resource: str
    #: Issuers whose tokens the resource accepts (MCP requires at least one).
    authorization_servers: tuple[str, ...]
    #: RECOMMENDED. The minimal scopes for basic use (MCP Scope Selection Strategy).
    scopes_supported: tuple[str, ...] | None = None
    bearer_methods_supported: tuple[str, ...] = ("header",)
    resource_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return without_none(_lists(asdict(self)))

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Parse a received document; ``ValueError`` says what is wrong with it."""
        doc = as_object(data, "protected resource metadata")
        servers = optional_str_list(doc, "authorization_servers")
        if not servers:
            raise ValueError('"authorization_servers" must name at least one authorization server')
        return cls(
            resource=required_str(doc, "resource"),
            authorization_servers=servers,
            scopes_supported=optional_str_list(doc, "scopes_supported"),
            bearer_methods_supported=optional_str_list(doc, "bearer_methods_supported") or ("header",),
            resource_name=optional_str(doc, "resource_name"),
        )


@dataclass(frozen=True)
class AuthorizationServerMetadata:
    """What an authorization server says about itself (RFC 8414 §2)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    response_types_supported: tuple[str, ...]
    jwks_uri: str | None = None
    registration_endpoint: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    response_modes_supported: tuple[str, ...] | None = None
    grant_types_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    #: RFC 8414 §2: the algorithms a ``private_key_jwt`` assertion may be signed with (RFC 7523).
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] | None = None
    code_challenge_methods_supported: tuple[str, ...] | None = None
    #: RFC 7009 §2 (advertised as RFC 8414 §2 says): where a client revokes its tokens.
    revocation_endpoint: str | None = None
    revocation_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    revocation_endpoint_auth_signing_alg_values_supported: tuple[str, ...] | None = None
    introspection_endpoint: str | None = None
    introspection_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    #: RFC 9207 §3: the server sends ``iss`` in every authorization response.
    authorization_response_iss_parameter_supported: bool | None = None
    #: draft-ietf-oauth-client-id-metadata-document §5: a URL may serve as ``client_id``.
    client_id_metadata_document_supported: bool | None = None
    #: RFC 9449 §5.1: the algorithms of the DPoP proofs the server accepts; absent: no DPoP.
    dpop_signing_alg_values_supported: tuple[str, ...] | None = None
    #: SEP-990 (draft-ietf-oauth-identity-assertion-authz-grant): the assertion profiles the jwt-bearer grant takes.
    authorization_grant_profiles_supported: tuple[str, ...] | None = None
    service_documentation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return without_none(_lists(asdict(self)))

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Parse a received document; ``ValueError`` says what is wrong with it."""
        doc = as_object(data, "authorization server metadata")
        response_types = optional_str_list(doc, "response_types_supported")
        if not response_types:
            raise ValueError('"response_types_supported" is required')
        return cls(
            issuer=required_str(doc, "issuer"),
            authorization_endpoint=required_str(doc, "authorization_endpoint"),
            token_endpoint=required_str(doc, "token_endpoint"),
            response_types_supported=response_types,
            jwks_uri=optional_str(doc, "jwks_uri"),
            registration_endpoint=optional_str(doc, "registration_endpoint"),
            scopes_supported=optional_str_list(doc, "scopes_supported"),
            response_modes_supported=optional_str_list(doc, "response_modes_supported"),
            grant_types_supported=optional_str_list(doc, "grant_types_supported"),
            token_endpoint_auth_methods_supported=optional_str_list(doc, "token_endpoint_auth_methods_supported"),
            token_endpoint_auth_signing_alg_values_supported=optional_str_list(
                doc, "token_endpoint_auth_signing_alg_values_supported"
            ),
            code_challenge_methods_supported=optional_str_list(doc, "code_challenge_methods_supported"),
            revocation_endpoint=optional_str(doc, "revocation_endpoint"),
            revocation_endpoint_auth_methods_supported=optional_str_list(
                doc, "revocation_endpoint_auth_methods_supported"
            ),
            revocation_endpoint_auth_signing_alg_values_supported=optional_str_list(
                doc, "revocation_endpoint_auth_signing_alg_values_supported"
            ),
            introspection_endpoint=optional_str(doc, "introspection_endpoint"),
            introspection_endpoint_auth_methods_supported=optional_str_list(
                doc, "introspection_endpoint_auth_methods_supported"
            ),
            authorization_response_iss_parameter_supported=optional_bool(
                doc, "authorization_response_iss_parameter_supported"
            ),
            client_id_metadata_document_supported=optional_bool(doc, "client_id_metadata_document_supported"),
            dpop_signing_alg_values_supported=optional_str_list(doc, "dpop_signing_alg_values_supported"),
            authorization_grant_profiles_supported=optional_str_list(doc, "authorization_grant_profiles_supported"),
            service_documentation=optional_str(doc, "service_documentation"),
        )


def _lists(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in fields.items()}
