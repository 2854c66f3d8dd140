package aitronos

import (
	"encoding/json"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// envelope is the Aitronos error body:
// {"success": false, "error": {"code", "message", "system_message", "type",
// "status", "trace_id", "timestamp", "details"}}.
type envelope struct {
	Error *struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		SystemMessage string `json:"system_message"`
		TraceID       string `json:"trace_id"`
	} `json:"error"`
}

// ParseError is the httpx.Options.ParseError hook for Aitronos: it reads the
// error envelope (message, or system_message when message is empty) and
// falls back to httpx.DefaultParseError for other bodies.
func ParseError(status int, body []byte) (code, message, traceID string) {
	var env envelope
	if json.Unmarshal(body, &env) == nil && env.Error != nil &&
		(env.Error.Code != "" || env.Error.Message != "" || env.Error.SystemMessage != "") {
		msg := env.Error.Message
		if msg == "" {
			msg = env.Error.SystemMessage
		}
		return env.Error.Code, msg, env.Error.TraceID
	}
	return httpx.DefaultParseError(status, body)
}
