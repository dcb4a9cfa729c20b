/* placeholder: being written */
#include "ck_ipc.h"
