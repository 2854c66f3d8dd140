package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"Host":            true,
}

// publicFormKeys are form fields whose values are not secret.
var publicFormKeys = map[string]bool{
	"grant_type":            true,
	"client_id":             true,
	"client_assertion_type": true,
	"scope":                 true,
	"audience":              true,
}

// headerSecrets lists the values of a sent header that must never appear in
// an error: all of them unless the header is public, and a bearer token
// without its scheme.
func headerSecrets(key string, values []string) []string {
	if publicHeaders[http.CanonicalHeaderKey(key)] {
		return nil
	}
	var out []string
	for _, v := range values {
		out = append(out, v)
		if _, tok, ok := strings.Cut(v, " "); ok {
			out = append(out, strings.TrimSpace(tok))
		}
	}
	return out
}

// formSecrets lists the form values that must never appear in an error, as
// sent and escaped, and the encoded form.
func formSecrets(form url.Values) []string {
	out := []string{form.Encode()}
	for k, vs := range form {
		if !publicFormKeys[k] {
			for _, v := range vs {
				out = append(out, v, url.QueryEscape(v))
			}
		}
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

// describeJSONError explains a decoding failure without quoting the body.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %s: unexpected JSON %s", te.Field, te.Value)
	case errors.As(err, &te):
		return fmt.Sprintf("unexpected JSON %s", te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// Other errors come from encoding/json (which quotes no more than a
	// character) or from this module's own decoders, which quote no values.
	return err.Error()
}

// stripURL drops the *url.Error wrapper, whose text quotes the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
