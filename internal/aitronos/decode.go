package aitronos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The decoders below are lenient about JSON types (null, numbers sent as
// strings) but strict about meaning: a value that cannot mean what the
// field means is an error. Their errors name the field, never the value.

// text is a string field that may be null or a number/boolean literal.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errors.New("invalid JSON string")
		}
		*t = text(s)
	case string(b) == "true" || string(b) == "false":
		*t = text(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("want a string")
		}
		*t = text(n)
	}
	return nil
}

// flag is a boolean that may be null (false) or the string "true"/"false".
type flag bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *flag) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return errors.New("want a boolean")
	}
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "", "false":
		*f = false
	case "true":
		*f = true
	default:
		return errors.New("want a boolean")
	}
	return nil
}

// seconds is a whole, non-negative number of seconds, sent as a number or a
// numeric string; null or "" means 0.
type seconds int64

// UnmarshalJSON implements json.Unmarshaler.
func (s *seconds) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return errors.New("want a number of seconds")
	}
	str := strings.TrimSpace(string(t))
	if str == "" {
		*s = 0
		return nil
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e12 || f != math.Trunc(f) {
		return errors.New("want a whole, non-negative number of seconds")
	}
	*s = seconds(f)
	return nil
}

// timeLayouts are the accepted timestamp layouts; those without a zone are
// read as UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// timestamp is an ISO 8601 date-time (with or without zone) or a Unix time
// in seconds; null or "" is the zero time.
type timestamp time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (ts *timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return errors.New("want a timestamp")
	}
	s := strings.TrimSpace(string(t))
	if s == "" {
		*ts = timestamp{}
		return nil
	}
	if len(b) > 0 && b[0] != '"' {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return errors.New("want a timestamp")
		}
		sec, frac := math.Modf(f)
		*ts = timestamp(time.Unix(int64(sec), int64(frac*1e9)).UTC())
		return nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			*ts = timestamp(v.UTC())
			return nil
		}
	}
	return errors.New("want an ISO 8601 timestamp")
}

// object is a JSON object that may be null.
type object map[string]any

// UnmarshalJSON implements json.Unmarshaler.
func (o *object) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*o = nil
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("want an object")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return errors.New("want an object")
	}
	*o = m
	return nil
}

// decodeFields decodes a JSON object (or null, leaving everything zero)
// into the targets named by fields, ignoring other keys. Errors name the
// field, never its value.
func decodeFields(b []byte, fields map[string]any) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("want an object")
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		target := fields[name]
		v, ok := raw[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, target); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	return nil
}
