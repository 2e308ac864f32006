// Real processes: a kubectl call is ~100 ms, and waiting on a controller or a broker takes
// seconds. (testTimeout is a global jest option; projects cannot set it.)
import { jest } from '@jest/globals';

jest.setTimeout(60_000);
