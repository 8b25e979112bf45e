// Package authn verifies OIDC bearer tokens from one or more issuers and turns them into principals.
package authn
