package httpx

import (
	"bytes"
	"cmp"
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
	var obj map[string]any
	switch {
	case len(body) == 0 || body[0] == '<':
		return "", "", ""
	case body[0] != '{' || json.Unmarshal(body, &obj) != nil:
		return "", string(body), ""
	}
	code, message, traceID = fromObject(obj)
	if inner, ok := obj["error"].(map[string]any); ok {
		c, m, t := fromObject(inner)
		return c, m, cmp.Or(t, traceID)
	}
	return code, message, traceID
}

// fromObject picks code, message and trace id out of one JSON object.
func fromObject(obj map[string]any) (code, message, traceID string) {
	first := func(keys ...string) string {
		for _, k := range keys {
			switch v := obj[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
		return ""
	}
	return first("error", "code", "error_code", "errorCode"),
		first("error_description", "message", "detail", "error_message", "errorMessage", "description"),
		first("trace_id", "traceId", "request_id", "requestId")
}
