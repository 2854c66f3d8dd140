// Package httpx is the single HTTP request path shared by the upstream API
// clients of this plugin.
//
// It sends JSON or form requests with bounded, jittered retries (honouring
// Retry-After), caps answer sizes, refuses redirects, and turns every failure
// into a typed *Error that carries the HTTP status and the number of attempts
// but never a header value, a request body or a query string.
package httpx
