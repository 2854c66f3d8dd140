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
//
//	(create asked) --unknown outcome--> orphan-suspected (id unknown: logged, counted, backed off)
//	(create asked) --answer stored----> pending --promote--> current --replaced--> retiring
//	retiring --grace and leases passed, or revoked by hand--> (revoked upstream, forgotten)
//	retiring --due, but used upstream since its retirement--> held back (until unused for the grace, or revoke_max_delay)
//	retiring / current --revoked or deleted upstream out of band--> (no longer served; replaced, then revoked)
//	retiring / left-over pending / deregistering --> revoke-now --revoked--> (forgotten)
package lifecycle
