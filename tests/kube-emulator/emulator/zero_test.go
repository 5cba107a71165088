// file: zero_test.go — managedFields of objects created by Update operations (POST),
// which upstream computes against the type's zero value.
package main

import "testing"

func TestCreateManagedFieldsShape(t *testing.T) {
	c := newTestServer(t, false)
	c.s.fixedTime = mustTime("2026-01-02T03:04:05Z")
	r := c.mustCode(c.do("POST", "/apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-create", "application/json",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","labels":{"app":"w"}},"spec":{"selector":{"matchLabels":{"app":"w"}},
		"template":{"metadata":{"labels":{"app":"w"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`), 201)
	e := managedEntryFor(r.body, "kubectl-create", "Update")
	want := `{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}`
	if got := jsonString(t, e["fieldsV1"]); got != want {
		t.Fatalf("create managedFields\n got: %s\nwant: %s", got, want)
	}
}
