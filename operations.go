package c1

import "github.com/hashicorp/vault/sdk/framework"

// operation is a path operation with its summary and the verb and suffix of
// its OpenAPI operation id (the prefix, "c1", is the path's): verb "rotate"
// and suffix "connector-credential" make "c1-rotate-connector-credential".
func operation(callback framework.OperationFunc, verb, suffix, summary string) *framework.PathOperation {
	return &framework.PathOperation{
		Callback:     callback,
		Summary:      summary,
		DisplayAttrs: &framework.DisplayAttributes{OperationVerb: verb, OperationSuffix: suffix},
	}
}

// forwarded marks op to run where storage is writable: it calls upstream and
// then writes, so performance standbys and secondaries forward it.
func forwarded(op *framework.PathOperation) *framework.PathOperation {
	op.ForwardPerformanceStandby, op.ForwardPerformanceSecondary = true, true
	return op
}
