// Command issuer is a real local OIDC issuer for the gateway peer tests: it serves discovery and JWKS and writes one signed token.
package main
