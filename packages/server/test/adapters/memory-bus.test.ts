import { memoryBus } from '../../src/adapters/bus/memory.ts'
import { busContract } from './bus-contract.ts'

busContract('memory', () => memoryBus({ onError: () => {} }))
