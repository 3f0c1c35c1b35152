#include <cblas.h>
int main() { return openblas_get_num_threads() > 0 ? 0 : 1; }
