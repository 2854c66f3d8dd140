// Package c1api is a small ConductorOne (C1) client for connector
// credentials: rotate (create), get and revoke; and for the credential the
// engine itself logs in with, its root credential (a personal client or a
// service-principal credential): list, find, get, create and delete.
//
// It authenticates with a static bearer token or, like the official C1 Go
// SDK, with OAuth 2 client credentials: an oauth2.TokenSource whose every
// token request carries a fresh JWT client assertion signed by the Ed25519
// client secret, which is never sent. Calls go through oauth2.Transport
// over internal/httpx. It depends on no Vault package.
package c1api
