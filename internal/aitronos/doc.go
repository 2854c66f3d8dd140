// Package aitronos is a small client for the Aitronos personal-connector
// admin API, which reads the OAuth credentials of a connected account by
// credential id or by connection id.
//
// It authenticates with one API key header, decodes answers leniently
// (nullable fields, numbers sent as strings) but refuses values whose
// meaning is unclear, and turns the Aitronos error envelope into an
// *httpx.Error. It depends on no Vault package.
package aitronos
