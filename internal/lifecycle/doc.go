// Package lifecycle decides what happens to a managed C1 connector's
// credentials: the record and credential types, the states a credential
// passes through and the transitions between them, what the periodic
// function is to do for a connector now (PlanWork) and when next (NextWork,
// NextDue), the rotation policy's arithmetic (rotation due, schedule and
// window, lease horizon, revocation time, verify slots), and the evidence
// rules: what an upstream read of a credential proves.
//
// It imports nothing from Vault and calls nothing upstream: the engine's
// root package reads storage and the upstream, asks this package what to do,
// and carries the decision out. Rules are methods on the types defined here,
// so they cannot be written anywhere else.
package lifecycle
