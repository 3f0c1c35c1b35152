#include <dnnl.h>
int main() { return dnnl_version() != nullptr ? 0 : 1; }
