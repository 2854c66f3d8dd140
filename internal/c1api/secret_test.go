package c1api

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseClientSecretAcceptsValidKey(t *testing.T) {
	pub, secret := testKey(t)
	key, err := ParseClientSecret(secret + "\n")
	if err != nil {
		t.Fatalf("ParseClientSecret: %v", err)
	}
	if !key.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("parsed key does not match")
	}
}

func TestParseClientSecretRefusesBadFormats(t *testing.T) {
	pub, good := testKey(t)
	_, other := testKey(t)
	x := base64.RawURLEncoding.EncodeToString(pub)
	d := strings.Repeat("A", 43) // 32 zero bytes
	jwkOf := func(m map[string]string) string { return secretFor(t, m) }
	cases := map[string]string{
		"empty":            "",
		"no prefix":        strings.TrimPrefix(good, "secret-token:"),
		"wrong version":    strings.Replace(good, ":v1:", ":v2:", 1),
		"not base64":       "secret-token:conductorone.com:v1:!!!not*base64!!!",
		"not JSON":         "secret-token:conductorone.com:v1:" + base64.RawURLEncoding.EncodeToString([]byte("hello world secret")),
		"wrong kty":        jwkOf(map[string]string{"kty": "EC", "crv": "Ed25519", "d": d}),
		"wrong crv":        jwkOf(map[string]string{"kty": "OKP", "crv": "X25519", "d": d}),
		"missing d":        jwkOf(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": x}),
		"short d":          jwkOf(map[string]string{"kty": "OKP", "crv": "Ed25519", "d": "AAAA"}),
		"x does not match": jwkOf(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": x, "d": d}),
		"trailing data":    "secret-token:conductorone.com:v1:" + base64.RawURLEncoding.EncodeToString([]byte(`{"kty":"OKP"} {}`)),
	}
	for name, in := range cases {
		_, err := ParseClientSecret(in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, ErrInvalidClientSecret) {
			t.Errorf("%s: error does not wrap ErrInvalidClientSecret: %v", name, err)
		}
		parts := strings.Split(in, ":")
		if tail := parts[len(parts)-1]; len(tail) > 8 && strings.Contains(err.Error(), tail) {
			t.Errorf("%s: error echoes the input: %v", name, err)
		}
		for _, leak := range []string{d, x, "hello world"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: error echoes key material: %v", name, err)
			}
		}
	}
	if _, err := ParseClientSecret(other); err != nil {
		t.Fatalf("second valid key refused: %v", err)
	}
}
