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

// publicHeaders and publicFormKeys are request headers and form fields whose
// values are not secret.
var (
	publicHeaders = map[string]bool{"Accept": true, "Accept-Encoding": true, "Content-Type": true,
		"Content-Length": true, "User-Agent": true, "Host": true}
	publicFormKeys = map[string]bool{"grant_type": true, "client_id": true, "client_assertion_type": true,
		"scope": true, "audience": true}
)

// headerSecrets lists the values of a sent header that no error may quote:
// all of a header that is not public, and a bearer token without its scheme.
func headerSecrets(key string, values []string) []string {
	if publicHeaders[http.CanonicalHeaderKey(key)] {
		return nil
	}
	var out []string
	for _, v := range values {
		_, tok, _ := strings.Cut(v, " ")
		out = append(out, v, strings.TrimSpace(tok))
	}
	return out
}

// formSecrets lists the encoded form and its values (as sent and escaped)
// that no error may quote.
func formSecrets(form url.Values) []string {
	out := []string{form.Encode()}
	for k, vs := range form {
		for _, v := range vs {
			if !publicFormKeys[k] {
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

// cleanText makes upstream text safe to show: invalid UTF-8, control and
// format characters go, runs of white space become one space, and the
// result is cut to max runes with an ellipsis.
func cleanText(s string, max int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsSpace(r) && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			return -1
		}
		return r
	}, s)), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
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
		return "unexpected JSON " + te.Value
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
