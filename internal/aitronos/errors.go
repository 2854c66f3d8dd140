package aitronos

import (
	"cmp"
	"encoding/json"
)

// envelope is the Aitronos error body:
// {"success": false, "error": {"code", "message", "system_message", "type",
// "status", "trace_id", "timestamp", "details"}}, or a validation error's
// {"detail": "..."}.
type envelope struct {
	Error *struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		SystemMessage string `json:"system_message"`
		TraceID       string `json:"trace_id"`
	} `json:"error"`
	Detail string `json:"detail"`
}

// ParseError is the httpx.Options.ParseError hook for Aitronos: it reads the
// error envelope (message, or system_message when message is empty) or a
// detail.
func ParseError(_ int, body []byte) (code, message, traceID string) {
	var env envelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return "", env.Detail, ""
	}
	return env.Error.Code, cmp.Or(env.Error.Message, env.Error.SystemMessage), env.Error.TraceID
}
