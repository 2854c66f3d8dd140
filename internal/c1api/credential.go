package c1api

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Credential is a C1 connector credential. ClientSecret is set only by
// RotateCredential: C1 returns it once, on creation.
type Credential struct {
	ID           string
	AppID        string
	ConnectorID  string
	ClientID     string
	ClientSecret string
	DisplayName  string
	// Times are zero when absent or null; ExpiresTime zero means no expiry.
	CreatedAt   time.Time
	ExpiresTime time.Time
	UpdatedAt   time.Time
	LastUsedAt  time.Time
	DeletedAt   time.Time
}

// wireCredential is a ConnectorCredential as C1 sends it.
type wireCredential struct {
	ID           string    `json:"id"`
	AppID        string    `json:"appId"`
	ConnectorID  string    `json:"connectorId"`
	ClientID     string    `json:"clientId"`
	ClientSecret string    `json:"clientSecret"`
	DisplayName  string    `json:"displayName"`
	CreatedAt    timestamp `json:"createdAt"`
	ExpiresTime  timestamp `json:"expiresTime"`
	UpdatedAt    timestamp `json:"updatedAt"`
	LastUsedAt   timestamp `json:"lastUsedAt"`
	DeletedAt    timestamp `json:"deletedAt"`
}

// credential converts w.
func (w *wireCredential) credential() *Credential {
	return &Credential{
		ID:           w.ID,
		AppID:        w.AppID,
		ConnectorID:  w.ConnectorID,
		ClientID:     w.ClientID,
		ClientSecret: w.ClientSecret,
		DisplayName:  w.DisplayName,
		CreatedAt:    time.Time(w.CreatedAt),
		ExpiresTime:  time.Time(w.ExpiresTime),
		UpdatedAt:    time.Time(w.UpdatedAt),
		LastUsedAt:   time.Time(w.LastUsedAt),
		DeletedAt:    time.Time(w.DeletedAt),
	}
}

// credentialAnswer is the answer of get and rotate. Older API versions put
// clientSecret (and possibly the other fields) at the top level.
type credentialAnswer struct {
	Credential *wireCredential `json:"credential"`
	wireCredential
}

// timestamp is an RFC 3339 date-time; null or "" is the zero time.
type timestamp time.Time

// UnmarshalJSON implements json.Unmarshaler. Its errors never quote input.
func (t *timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("timestamp is not a string")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		*t = timestamp{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New("timestamp is not RFC 3339")
	}
	*t = timestamp(v.UTC())
	return nil
}
