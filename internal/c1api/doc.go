// Package c1api is a small ConductorOne (C1) client for connector
// credentials: rotate (create), get and revoke.
//
// It authenticates with a static bearer token or, like the official C1 Go
// SDK, with OAuth 2 client credentials where the Ed25519 client secret signs
// a short-lived JWT client assertion and is never sent. It depends on no
// Vault package; every request goes through internal/httpx.
package c1api
