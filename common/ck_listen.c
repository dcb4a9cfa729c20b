/* placeholder: being written */
#include "ck_listen.h"
