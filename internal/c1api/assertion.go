package c1api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Assertion timing, as in the official SDK: valid from two minutes ago to
// two minutes ahead (the server accepts at most five minutes).
const (
	assertionLead = 2 * time.Minute
	assertionLife = 2 * time.Minute
)

// assertionType is the OAuth 2 client assertion type for a JWT.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// randomNonce puts 16 random bytes, base64url-encoded, in the JWS header.
type randomNonce struct{}

// Nonce implements jose.NonceSource.
func (randomNonce) Nonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// signAssertion returns a compact EdDSA-signed JWT with iss = sub = clientID,
// aud = audience, iat = now, nbf = now-2m, exp = now+2m and a random nonce
// header. Its errors never contain key material.
func signAssertion(key ed25519.PrivateKey, clientID, audience string, now time.Time) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		&jose.SignerOptions{NonceSource: randomNonce{}},
	)
	if err != nil {
		return "", fmt.Errorf("create assertion signer: %w", err)
	}
	claims := jwt.Claims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-assertionLead)),
		Expiry:    jwt.NewNumericDate(now.Add(assertionLife)),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	return s, nil
}
