package httpx

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length caps for text taken from upstream answers.
const (
	maxMessageRunes = 200
	maxCodeRunes    = 100
	maxTraceRunes   = 100
	// minSecretLen is the shortest request value scrubbed from upstream text;
	// shorter values would mangle messages without protecting anything.
	minSecretLen = 6
)

// redacted replaces request secrets found in upstream text.
const redacted = "[redacted]"

// publicHeaders are request headers whose values are not secret.
var publicHeaders = map[string]bool{
	"Accept":          true,
	"Accept-Encoding": true,
	"Content-Type":    true,
	"Content-Length":  true,
	"User-Agent":      true,
}

// publicFormKeys are form fields whose values are not secret.
var publicFormKeys = map[string]bool{
	"grant_type":            true,
	"client_id":             true,
	"client_assertion_type": true,
	"scope":                 true,
	"audience":              true,
}

// secretsOf lists the request values that must never appear in an error:
// every non-public header value (and a bearer token without its scheme),
// every non-public form value and the encoded body.
func secretsOf(h http.Header, form url.Values, body []byte) []string {
	var out []string
	add := func(v string) {
		if len(v) >= minSecretLen {
			out = append(out, v)
		}
	}
	for k, vs := range h {
		if publicHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		for _, v := range vs {
			add(v)
			if _, tok, ok := strings.Cut(v, " "); ok {
				add(strings.TrimSpace(tok))
			}
		}
	}
	for k, vs := range form {
		if publicFormKeys[k] {
			continue
		}
		for _, v := range vs {
			add(v)
			add(url.QueryEscape(v))
		}
	}
	if len(body) > 0 {
		add(string(body))
	}
	return out
}

// scrub replaces every secret in s, longest first so that a value and its
// substrings are all caught.
func scrub(s string, secrets []string) string {
	for {
		longest := ""
		for _, sec := range secrets {
			if len(sec) > len(longest) && strings.Contains(s, sec) {
				longest = sec
			}
		}
		if longest == "" {
			return s
		}
		s = strings.ReplaceAll(s, longest, redacted)
	}
}

// safeText scrubs secrets from upstream text before and after cleaning it,
// so that neither truncation nor white space hides a secret from scrub.
func safeText(s string, max int, secrets []string) string {
	return scrub(cleanText(scrub(s, secrets), max), secrets)
}

// cleanText makes upstream text safe to show: invalid UTF-8 and control
// characters go, runs of white space become one space, and the result is
// cut to max runes with an ellipsis.
func cleanText(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			continue
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if n >= max {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
