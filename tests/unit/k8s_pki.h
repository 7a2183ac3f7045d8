/* A test PKI for the Kubernetes client's TLS tests, made with
 * /usr/bin/openssl: dir/ca.crt, server.crt and server.key (SAN
 * 127.0.0.1 and localhost), client.crt and client.key (CN
 * kcr-test-client), all signed by the CA. */
#ifndef KCR_TEST_K8S_PKI_H
#define KCR_TEST_K8S_PKI_H

/* -1 when openssl is missing or fails (the test then skips). */
int k8s_pki_make(const char *dir);

#endif
