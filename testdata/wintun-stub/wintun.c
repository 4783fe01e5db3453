/*
 * TEST-ONLY stand-in for wintun.dll. NEVER SHIPPED.
 *
 * It exports the Wintun 0.14 calls the agent makes (through
 * golang.zx2c4.com/wintun) so that, under Wine, the MSI can be built and
 * installed with a DLL beside the exe and the agent's adapter path runs:
 * the DLL loads from the application directory, an "adapter" and a
 * "session" are created, reads find no packets, sends are discarded.
 * There is no driver and no network adapter, so it proves the packaging
 * and the loading, not that a tunnel carries traffic on Windows.
 *
 * It is unsigned, so `scripts/dist/wintun.sh` (the Authenticode check
 * `make dist` runs on the official DLL) refuses it.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o wintun.dll wintun.c
 */
#include <windows.h>
#include <stdlib.h>

typedef ULONG64 luid_t; /* NET_LUID: IfType in bits 48-63, index in 24-47 */
typedef struct { GUID guid; luid_t luid; } adapter;
typedef struct { HANDLE read_wait; } session;
typedef void (CALLBACK *logger_fn)(int level, DWORD64 timestamp, LPCWSTR message);

static logger_fn logger;

__declspec(dllexport) void *WINAPI WintunCreateAdapter(LPCWSTR name, LPCWSTR type, const GUID *requested) {
    adapter *a = calloc(1, sizeof *a);
    if (!a) { SetLastError(ERROR_NOT_ENOUGH_MEMORY); return NULL; }
    if (requested) a->guid = *requested;
    a->luid = ((luid_t)53 << 48) | ((luid_t)0x5746 << 24); /* IF_TYPE_PROP_VIRTUAL, index "WF" */
    (void)name; (void)type;
    return a;
}
__declspec(dllexport) void *WINAPI WintunOpenAdapter(LPCWSTR name) {
    (void)name; SetLastError(ERROR_FILE_NOT_FOUND); return NULL;
}
__declspec(dllexport) void WINAPI WintunCloseAdapter(void *a) { free(a); }
__declspec(dllexport) BOOL WINAPI WintunDeleteDriver(void) { return TRUE; }
__declspec(dllexport) void WINAPI WintunGetAdapterLUID(void *a, luid_t *luid) { *luid = ((adapter *)a)->luid; }
__declspec(dllexport) DWORD WINAPI WintunGetRunningDriverVersion(void) { SetLastError(ERROR_FILE_NOT_FOUND); return 0; }
__declspec(dllexport) void WINAPI WintunSetLogger(logger_fn fn) { logger = fn; }
__declspec(dllexport) void *WINAPI WintunStartSession(void *a, DWORD capacity) {
    session *s = calloc(1, sizeof *s);
    (void)a; (void)capacity;
    if (!s) { SetLastError(ERROR_NOT_ENOUGH_MEMORY); return NULL; }
    s->read_wait = CreateEventW(NULL, TRUE, FALSE, NULL);
    return s;
}
__declspec(dllexport) void WINAPI WintunEndSession(void *s) {
    CloseHandle(((session *)s)->read_wait);
    free(s);
}
__declspec(dllexport) HANDLE WINAPI WintunGetReadWaitEvent(void *s) { return ((session *)s)->read_wait; }
__declspec(dllexport) BYTE *WINAPI WintunReceivePacket(void *s, DWORD *size) {
    (void)s; *size = 0; SetLastError(ERROR_NO_MORE_ITEMS); return NULL;
}
__declspec(dllexport) void WINAPI WintunReleaseReceivePacket(void *s, const BYTE *p) { (void)s; (void)p; }
__declspec(dllexport) BYTE *WINAPI WintunAllocateSendPacket(void *s, DWORD size) {
    (void)s; return malloc(size ? size : 1);
}
__declspec(dllexport) void WINAPI WintunSendPacket(void *s, const BYTE *p) { (void)s; free((void *)p); }
