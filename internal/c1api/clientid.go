package c1api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidClientID is wrapped by every client id validation error.
var ErrInvalidClientID = errors.New("invalid client id")

// ValidateClientID checks that id has the form "<name>@<host>/<kind>", e.g.
// "strange-hydra-68836@acme.conductor.one/pcc". Errors never quote id.
func ValidateClientID(id string) error {
	_, err := clientIDHost(id)
	return err
}

// ServerURLFromClientID returns "https://<host>" for a client id
// "<name>@<host>/<kind>": the tenant's API host is the part between '@' and
// the first '/'.
func ServerURLFromClientID(id string) (string, error) {
	host, err := clientIDHost(id)
	if err != nil {
		return "", err
	}
	return "https://" + host, nil
}

// clientIDHost validates id and returns its host part.
func clientIDHost(id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: client id is empty", ErrInvalidClientID)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return "", fmt.Errorf("%w: client id contains spaces, control or non-ASCII characters", ErrInvalidClientID)
		}
	}
	name, rest, ok := strings.Cut(id, "@")
	if !ok || name == "" {
		return "", fmt.Errorf("%w: client id must look like <name>@<host>/<kind>", ErrInvalidClientID)
	}
	host, kind, ok := strings.Cut(rest, "/")
	if !ok || host == "" || kind == "" {
		return "", fmt.Errorf("%w: client id must look like <name>@<host>/<kind>", ErrInvalidClientID)
	}
	u, err := url.Parse("https://" + host)
	if err != nil || u.Host != host || u.Hostname() == "" || strings.ContainsAny(host, "@?#\\%") {
		return "", fmt.Errorf("%w: client id host is not a valid host name", ErrInvalidClientID)
	}
	return host, nil
}
