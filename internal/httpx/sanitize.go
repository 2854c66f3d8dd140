package httpx

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxErrorBodyBytes caps how much of a non-2xx answer is read.
	maxErrorBodyBytes = 64 << 10
	// minSecretLen is the shortest request value scrubbed from upstream text;
	// shorter values would mangle messages without protecting anything.
	minSecretLen = 6
	// redacted replaces request secrets found in upstream text.
	redacted = "[redacted]"
)

// public are the request headers and form fields whose values are not
// secret.
var public = map[string]bool{"Accept": true, "Accept-Encoding": true, "Content-Type": true, "Content-Length": true,
	"User-Agent": true, "Host": true, "grant_type": true, "client_id": true, "client_assertion_type": true}

// safeText scrubs secrets from upstream text before and after cleaning it,
// so that neither truncation nor white space hides a secret from scrub.
func safeText(s string, max int, secrets []string) string {
	return scrub(cleanText(scrub(s, secrets), max), secrets)
}

// scrub replaces every secret in s, longest first so that a value and its
// substrings are all caught.
func scrub(s string, secrets []string) string {
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range secrets {
		if len(sec) >= minSecretLen {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
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

// stripURL drops the *url.Error wrapper, whose text quotes the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
