package httpx

import (
	"errors"
	"net/url"
	"strings"
)

// BaseURL checks that raw is an http or https URL with a host and no user
// info, query or fragment, and no path unless pathOK, and returns it without
// a trailing slash. Its errors never quote raw.
func BaseURL(raw string, pathOK bool) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", errors.New("it is required")
	case err != nil:
		return "", errors.New("it does not parse")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", errors.New("it must start with https:// or http://")
	case u.Host == "" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("it must be scheme://host[:port] with no query, fragment or credentials")
	case !pathOK && u.Path != "" && u.Path != "/":
		return "", errors.New("it must be scheme://host[:port] with no path")
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// CheckToken checks that a key or token can be sent in a header as it is:
// printable ASCII with no spaces. Its errors never quote v.
func CheckToken(v string) error {
	if v == "" {
		return errors.New("it is empty")
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return errors.New("it contains spaces, control or non-ASCII characters")
	}
	return nil
}
