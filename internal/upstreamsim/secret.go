package upstreamsim

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// clientSecretPrefix starts every C1 client secret.
const clientSecretPrefix = "secret-token:conductorone.com:v1:"

// newClientKey generates an Ed25519 key and its secret-token form.
func newClientKey() (ed25519.PrivateKey, string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	secret, err := formatClientSecret(priv)
	if err != nil {
		return nil, "", err
	}
	return priv, secret, nil
}

// formatClientSecret encodes priv as secret-token:conductorone.com:v1:<base64url JWK>.
func formatClientSecret(priv ed25519.PrivateKey) (string, error) {
	jwk, err := json.Marshal(map[string]string{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		"d":   base64.RawURLEncoding.EncodeToString(priv.Seed()),
	})
	if err != nil {
		return "", err
	}
	return clientSecretPrefix + base64.RawURLEncoding.EncodeToString(jwk), nil
}

// parseClientSecret decodes a secret-token string into its Ed25519 private
// key, strictly: the prefix, unpadded base64url and an OKP/Ed25519 JWK whose x
// matches d.
func parseClientSecret(secret string) (ed25519.PrivateKey, error) {
	rest, ok := strings.CutPrefix(secret, clientSecretPrefix)
	if !ok {
		return nil, errors.New("client secret is not a secret-token:conductorone.com:v1: value")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("client secret is not unpadded base64url: %w", err)
	}
	var hdr struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return nil, fmt.Errorf("client secret does not hold a JWK: %w", err)
	}
	if hdr.Kty != "OKP" || hdr.Crv != "Ed25519" {
		return nil, errors.New("client secret JWK is not an Ed25519 (OKP) key")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("client secret JWK is invalid: %w", err)
	}
	priv, ok := jwk.Key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("client secret JWK is not an Ed25519 private key")
	}
	return priv, nil
}

const (
	alnum      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	lowerAlnum = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// randString returns n characters drawn uniformly from alphabet.
func randString(n int, alphabet string) string {
	n64 := big.NewInt(int64(len(alphabet)))
	var b strings.Builder
	b.Grow(n)
	for range n {
		i, err := rand.Int(rand.Reader, n64)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

// randToken returns a random opaque token of 32 bytes, base64url.
func randToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	nameAdjectives = []string{"strange", "brave", "quiet", "amber", "lucky", "swift", "gentle", "bold", "misty", "eager", "silent", "clever"}
	nameNouns      = []string{"hydra", "falcon", "otter", "comet", "badger", "heron", "lynx", "maple", "quasar", "walrus", "raven", "tiger"}
)

// randClientName returns a C1-style client name such as strange-hydra-68836.
func randClientName() string {
	a := nameAdjectives[mustRandInt(len(nameAdjectives))]
	n := nameNouns[mustRandInt(len(nameNouns))]
	return fmt.Sprintf("%s-%s-%05d", a, n, mustRandInt(100000))
}

func mustRandInt(n int) int {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(i.Int64())
}

// GenerateAPIKey returns a random Aitronos-style API key: "ak_" followed by
// 40 characters. Register it with AddAPIKey.
func GenerateAPIKey() string {
	return "ak_" + randString(40, alnum)
}
