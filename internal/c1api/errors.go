package c1api

import (
	"encoding/json"
	"fmt"
)

// parseError is the httpx.Options.ParseError hook for C1, whose error
// bodies are not documented: it reads the API's {"code", "message"} (a gRPC
// gateway's) and the token endpoint's {"error", "error_description"}
// (OAuth 2) when the body has them.
func parseError(_ int, body []byte) (code, message, traceID string) {
	var e struct {
		Code             any    `json:"code"`
		Message          string `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(body, &e) != nil:
		return "", "", ""
	case e.Error != "":
		return e.Error, e.ErrorDescription, ""
	case e.Code != nil:
		code = fmt.Sprint(e.Code)
	}
	return code, e.Message, ""
}
