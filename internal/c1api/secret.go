package c1api

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// ErrInvalidClientSecret is wrapped by every client secret parsing error.
var ErrInvalidClientSecret = errors.New("invalid client secret")

// ParseClientSecret parses a C1 client secret,
// "secret-token:conductorone.com:v1:<base64url, no padding, of a JWK>", whose
// JWK (read by go-jose) must be an Ed25519 private key whose public part x
// matches its private part d. Like the official SDK it accepts any issuer
// in the second field. Errors wrap ErrInvalidClientSecret and never quote
// the input.
func ParseClientSecret(secret string) (ed25519.PrivateKey, error) {
	parts := strings.SplitN(strings.TrimSpace(secret), ":", 4)
	if len(parts) != 4 || parts[0] != "secret-token" || parts[1] == "" || parts[2] != "v1" {
		return nil, invalidSecret("not of the form secret-token:<issuer>:v1:<key>")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[3], "="))
	if err != nil || len(raw) == 0 {
		return nil, invalidSecret("key is not base64url")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		// go-jose's reasons may quote key fields: none is passed on.
		return nil, invalidSecret("key is not a JSON web key of an Ed25519 key pair (kty OKP, crv Ed25519, x, d)")
	}
	key, ok := jwk.Key.(ed25519.PrivateKey)
	if !ok {
		return nil, invalidSecret("key is not an Ed25519 private key (kty OKP, crv Ed25519, with d)")
	}
	// go-jose takes x as given: check that it belongs to d.
	if !ed25519.NewKeyFromSeed(key.Seed()).Equal(key) {
		return nil, invalidSecret("key public part (x) does not match its private part (d)")
	}
	return key, nil
}

// invalidSecret wraps ErrInvalidClientSecret with a reason.
func invalidSecret(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidClientSecret, reason)
}
