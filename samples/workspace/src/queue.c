/* A fixed-size ring buffer, to try Pronto on C. */
#include <stdbool.h>
#include <stddef.h>

#define QUEUE_CAP 64

typedef struct {
    int items[QUEUE_CAP];
    size_t head;
    size_t len;
} queue_t;

void queue_init(queue_t *q) {
    q->head = 0;
    q->len = 0;
}

bool queue_push(queue_t *q, int value) {
    if (q->len == QUEUE_CAP) return false;
    q->items[(q->head + q->len) % QUEUE_CAP] = value;
    q->len++;
    return true;
}

/* Try it: type "bool queue_pop(queue_t *q, int *out) {" below. */
