package httpx

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// DefaultParseError reads common error bodies: a JSON object with
// "error"/"error_description" (OAuth 2), "code"/"message" (gRPC gateway and
// most REST APIs), "detail", an "error" object holding those, and a
// "trace_id"/"request_id"; otherwise the body as plain text (unless it looks
// like HTML). Callers sanitise the results.
func DefaultParseError(_ int, body []byte) (code, message, traceID string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", "", ""
	}
	var obj map[string]json.RawMessage
	if body[0] == '{' && json.Unmarshal(body, &obj) == nil {
		if inner, ok := obj["error"]; ok && len(inner) > 0 && inner[0] == '{' {
			var in map[string]json.RawMessage
			if json.Unmarshal(inner, &in) == nil {
				c, m, t := fromObject(in)
				if t == "" {
					_, _, t = fromObject(obj)
				}
				return c, m, t
			}
		}
		return fromObject(obj)
	}
	if body[0] == '<' {
		return "", "", ""
	}
	return "", string(body), ""
}

// fromObject picks code, message and trace id out of one JSON object.
func fromObject(obj map[string]json.RawMessage) (code, message, traceID string) {
	code = firstString(obj, "error", "code", "error_code", "errorCode")
	message = firstString(obj, "error_description", "message", "detail", "error_message", "errorMessage", "description")
	traceID = firstString(obj, "trace_id", "traceId", "request_id", "requestId")
	return code, message, traceID
}

// firstString returns the first key holding a string or a number, as text.
func firstString(obj map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && n != "" {
			if _, err := strconv.ParseFloat(string(n), 64); err == nil {
				return string(n)
			}
		}
	}
	return ""
}
