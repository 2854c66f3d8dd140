// Package httpx is the request path shared by the plugin's upstream API
// clients, on go-retryablehttp. Every failure is an *Error that carries the
// status, upstream code, trace id, attempts and the request's Outcome
// (applied, not applied, unknown), never a header value, body or query.
package httpx
