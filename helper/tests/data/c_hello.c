/* A keyhelm provider written in C against the header in docs/abi.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "keyhelm_plugin.h"

static void free_buf(KhOwnedBuf buf) {
    if (buf.ptr) {
        volatile uint8_t *p = buf.ptr;
        for (size_t i = 0; i < buf.cap; i++) p[i] = 0; /* zero before freeing */
        free(buf.ptr);
    }
}

static KhStatus answer(KhOwnedBuf *out, KhStatus status, const char *json) {
    size_t n = strlen(json);
    uint8_t *p = malloc(n);
    if (!p) return KH_PANIC;
    memcpy(p, json, n);
    out->ptr = p;
    out->len = n;
    out->cap = n;
    out->free = free_buf;
    return status;
}

static KhStatus describe(const KhHostApi *host, KhSlice req, KhOwnedBuf *out) {
    (void)host; (void)req;
    return answer(out, KH_OK,
        "{\"v\":1,\"name\":\"chello\",\"version\":\"1.2.3\",\"display_name\":\"C hello\","
        "\"settings\":[{\"key\":\"seed\",\"secret\":true,\"required\":true,\"help\":\"a seed\"}],"
        "\"url_patterns\":[],\"future_field\":{\"ignored\":true}}");
}

static KhStatus get(const KhHostApi *host, KhSlice req, KhOwnedBuf *out) {
    if (!host || host->abi_major != KH_ABI_MAJOR || host->size < sizeof(KhHostApi))
        return answer(out, KH_BAD_REQUEST, "{\"v\":1,\"kind\":\"internal\",\"message\":\"bad host table\"}");
    /* A real plugin parses the JSON request; this one only checks that it came. */
    if (req.len == 0 || req.ptr[0] != '{')
        return answer(out, KH_BAD_REQUEST, "{\"v\":1,\"kind\":\"internal\",\"message\":\"no request\"}");
    const char *msg = "hello from C";
    KhSlice s = { (const uint8_t *)msg, strlen(msg) };
    if (host->log) host->log(host->ctx, KH_LOG_INFO, s);
    int64_t now = host->now_ms ? host->now_ms(host->ctx) / 1000 : 0;
    char json[256];
    snprintf(json, sizeof json,
        "{\"v\":1,\"secret\":\"c-token\",\"expires_at\":%lld,\"state\":{\"action\":\"clear\"}}",
        (long long)(now + 60));
    return answer(out, KH_OK, json);
}

static const char NAME[] = "chello";
static const char VERSION[] = "1.2.3";

static const KhPluginTable TABLE = {
    sizeof(KhPluginTable), KH_ABI_MAJOR, KH_ABI_MINOR,
    { (const uint8_t *)NAME, sizeof NAME - 1 },
    { (const uint8_t *)VERSION, sizeof VERSION - 1 },
    describe, get, NULL,
};

const KhPluginTable *keyhelm_plugin_entry_v1(void) { return &TABLE; }
