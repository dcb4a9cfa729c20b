/* placeholder: being written */
#include "ck_notify.h"
