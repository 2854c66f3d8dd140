package c1api

import (
	"errors"
	"strings"
	"testing"
)

func TestServerURLFromClientID(t *testing.T) {
	cases := map[string]string{
		testClientID:                           "https://acme.conductor.one",
		"n@tenant.example.com:8443/kind/extra": "https://tenant.example.com:8443",
	}
	for id, want := range cases {
		got, err := ServerURLFromClientID(id)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", id, got, err, want)
		}
	}
}

func TestValidateClientIDRefusesBadIDs(t *testing.T) {
	for _, id := range []string{
		"", "no-at-sign.example.com/pcc", "@acme.conductor.one/pcc", "name@/pcc", "name@acme.conductor.one",
		"name@acme.conductor.one/", "name@acme conductor.one/pcc", "name@user@acme.conductor.one/pcc",
		"name@acme.conductor.one?x/pcc", "name@acme.conductor.one\n/pcc", "secret-token:conductorone.com:v1:abcdef",
	} {
		err := ValidateClientID(id)
		if err == nil {
			t.Errorf("%q accepted", id)
			continue
		}
		if !errors.Is(err, ErrInvalidClientID) {
			t.Errorf("%q: error does not wrap ErrInvalidClientID", id)
		}
		if len(id) > 3 && strings.Contains(err.Error(), id) {
			t.Errorf("%q: error echoes the input: %v", id, err)
		}
		if _, err := ServerURLFromClientID(id); err == nil {
			t.Errorf("%q: server URL derived", id)
		}
	}
}
