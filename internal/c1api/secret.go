package c1api

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidClientSecret is wrapped by every client secret parsing error.
var ErrInvalidClientSecret = errors.New("invalid client secret")

// secretPrefix and secretVersion frame a C1 client secret:
// "secret-token:<issuer>:v1:<base64url JWK>".
const (
	secretPrefix  = "secret-token"
	secretVersion = "v1"
)

// jwk holds the fields of an Ed25519 private JWK.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
}

// ParseClientSecret parses a C1 client secret,
// "secret-token:conductorone.com:v1:<base64url, no padding, of a JWK>", whose
// JWK must be an Ed25519 private key (kty OKP, crv Ed25519, d, and x when
// present matching d). Like the official SDK it accepts any issuer in the
// second field. Errors wrap ErrInvalidClientSecret and never quote the input.
func ParseClientSecret(secret string) (ed25519.PrivateKey, error) {
	parts := strings.SplitN(strings.TrimSpace(secret), ":", 4)
	if len(parts) != 4 || parts[0] != secretPrefix || parts[1] == "" || parts[2] != secretVersion {
		return nil, invalidSecret("not of the form secret-token:<issuer>:v1:<key>")
	}
	raw, err := decodeB64URL(parts[3])
	if err != nil || len(raw) == 0 {
		return nil, invalidSecret("key is not base64url")
	}
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, invalidSecret("key is not a JSON web key")
	}
	if k.Kty != "OKP" {
		return nil, invalidSecret("key type is not OKP")
	}
	if k.Crv != "Ed25519" {
		return nil, invalidSecret("key curve is not Ed25519")
	}
	if k.D == "" {
		return nil, invalidSecret("key has no private part (d)")
	}
	seed, err := decodeB64URL(k.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, invalidSecret("key private part (d) is not a 32-byte base64url value")
	}
	key := ed25519.NewKeyFromSeed(seed)
	if k.X != "" {
		x, err := decodeB64URL(k.X)
		pub := key.Public().(ed25519.PublicKey)
		if err != nil || subtle.ConstantTimeCompare(x, pub) != 1 {
			return nil, invalidSecret("key public part (x) does not match its private part")
		}
	}
	return key, nil
}

// invalidSecret wraps ErrInvalidClientSecret with a reason.
func invalidSecret(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidClientSecret, reason)
}

// decodeB64URL decodes base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
